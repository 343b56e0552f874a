//! `spec drift`: call the read endpoints of a live server and report response fields and
//! enumeration values the spec does not know.

use std::collections::BTreeSet;

use semarize_spec::Spec;
use serde_json::Value;

/// A JSON pointer as a path readable across array items: `/0/output/bricks` becomes
/// `$[].output.bricks`, so one line stands for the same finding in every item.
fn readable(pointer: &str) -> String {
    let mut path = String::from("$");
    for segment in pointer.split('/').skip(1) {
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            path.push_str("[]");
        } else {
            path.push('.');
            path.push_str(&segment.replace("~1", "/").replace("~0", "~"));
        }
    }
    path
}

/// Calls the read endpoints and collects what the spec does not know.
pub async fn drift(
    spec: &Spec,
    base_url: &str,
    api_key: &str,
    kit_code: Option<&str>,
) -> Result<Vec<String>, String> {
    let http = reqwest::Client::new();
    let base = base_url.trim_end_matches('/');
    let mut out = BTreeSet::new();
    let mut observed = Vec::new();

    let get = |path: String| {
        let request = http.get(format!("{base}{path}")).bearer_auth(api_key);
        async move {
            let response = request
                .send()
                .await
                .map_err(|e| format!("GET {path}: {e}"))?;
            let status = response.status().as_u16();
            let body: Value = response
                .json()
                .await
                .map_err(|e| format!("GET {path}: the body is not JSON: {e}"))?;
            Ok::<_, String>((status, body))
        }
    };
    let mut check = |operation: &str, status: u16, body: &Value| -> Result<(), String> {
        spec.response_schema(operation, status)
            .map_err(|_| format!("{operation}: status {status} is not in the spec"))?
            .ok_or_else(|| format!("{operation} {status}: a body came where the spec has none"))?;
        let findings = spec
            .additive_findings(operation, status, body)
            .map_err(|e| e.to_string())?;
        for finding in findings {
            out.insert(format!(
                "{operation} {status} {}: {}",
                readable(&finding.pointer),
                finding.message
            ));
        }
        observed.push(format!("{operation} {status}"));
        Ok(())
    };

    let (status, runs) = get("/v1/runs?limit=20".into()).await?;
    check("list_runs", status, &runs)?;
    let mut kit = kit_code.map(str::to_owned);
    for run in runs.as_array().into_iter().flatten().take(5) {
        let Some(run_id) = run["run_id"].as_str() else {
            continue;
        };
        let (status, detail) = get(format!("/v1/runs/{run_id}")).await?;
        check("get_run", status, &detail)?;
        let (status, usage) = get(format!("/v1/runs/{run_id}/usage")).await?;
        check("get_run_usage", status, &usage)?;
        if kit.is_none() {
            kit = detail
                .pointer("/output/kit_code")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
    }
    if let Some(kit) = kit {
        let (status, schema) = get(format!("/v1/kits/schema?kit_code={kit}")).await?;
        check("get_kit_schema_by_query", status, &schema)?;
        if let Some(kit_id) = schema["kit_id"].as_str() {
            let (status, by_id) = get(format!("/v1/kits/{kit_id}/schema")).await?;
            check("get_kit_schema", status, &by_id)?;
        }
        let ids: Vec<&str> = schema["bricks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| b["brick_id"].as_str())
            .collect();
        if !ids.is_empty() {
            let (status, bricks) = get(format!("/v1/bricks?ids={}", ids.join(","))).await?;
            check("get_bricks", status, &bricks)?;
        }
    }
    let (status, hooks) = get("/v1/webhooks".into()).await?;
    check("list_webhooks", status, &hooks)?;
    let (status, error) = get("/v1/runs/semarize-drift-check-missing".into()).await?;
    check("get_run", status, &error)?;

    eprintln!("spec drift: observed {}", observed.join(", "));
    Ok(out.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reports_what_the_additive_emulator_adds_and_nothing_otherwise() {
        let emulator = semarize_emulator::Emulator::start(semarize_emulator::Config {
            settings: semarize_emulator::Settings {
                run_latency_ms: 10_000,
                ..Default::default()
            },
            ..Default::default()
        })
        .await
        .unwrap();
        let http = reqwest::Client::new();
        let created = http
            .post(format!("{}/v1/runs", emulator.base_url()))
            .bearer_auth(emulator.api_key())
            .json(&serde_json::json!({"kit_code": "A1B2C3D4", "input": {"transcript": "We are losing hours."}}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 202);
        let spec = Spec::parse(crate::committed_spec_text()).unwrap();

        let clean = drift(
            &spec,
            emulator.base_url(),
            emulator.api_key(),
            Some("A1B2C3D4"),
        )
        .await
        .unwrap();
        assert_eq!(clean, Vec::<String>::new());

        emulator
            .control()
            .update_settings(|s| s.additive = true)
            .unwrap();
        let found = drift(
            &spec,
            emulator.base_url(),
            emulator.api_key(),
            Some("A1B2C3D4"),
        )
        .await
        .unwrap();
        let all = found.join("\n");
        assert!(
            all.contains(
                "list_runs 200 $[].x_added_in_future: field \"x_added_in_future\" is not in the spec"
            ),
            "{all}"
        );
        assert!(
            all.contains("value \"waiting_for_capacity\" is not in the spec's enumeration"),
            "{all}"
        );
        assert!(
            all.contains("\"scheduled\" is not in the spec's enumeration"),
            "{all}"
        );
        assert!(
            all.contains("get_kit_schema 200 $.bricks[].fields.x_added_in_future"),
            "{all}"
        );
        assert!(all.contains("get_run 404 $.x_added_in_future"), "{all}");
    }
}
