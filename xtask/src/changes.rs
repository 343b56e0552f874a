//! The change report of `spec check --base FILE`: every difference between two specs,
//! labelled additive or breaking for the users of the generated crates, and the version
//! to release next.
//!
//! It reads the spec diff itself, not the generated surface: the surface cannot see
//! limits, open enumerations or statuses. Directions matter: a schema a request carries
//! breaks its senders when it gets stricter (a new required field, a shorter `maxLength`,
//! a removed enumeration value); a schema a response carries breaks its readers when a
//! field or a status they rely on goes away. A changed type or a field turned optional
//! or required changes the generated Rust type, so it is breaking either way.

use std::collections::{BTreeMap, BTreeSet};

use semarize_spec::Spec;
use serde_json::Value;

/// How a change affects users.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Impact {
    /// Code written against the base keeps compiling and working.
    Additive,
    /// Some code written against the base breaks.
    Breaking,
}

/// One labelled difference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub impact: Impact,
    pub what: String,
}

/// Every difference from `base` to `new`, breaking ones first.
pub fn report(base: &Spec, new: &Spec) -> Vec<Change> {
    let mut out = Vec::new();
    operations(base, new, &mut out);
    let mut requests = sent(base);
    requests.extend(sent(new));
    let schemas = |spec: &Spec| -> serde_json::Map<String, Value> {
        spec.raw()
            .pointer("/components/schemas")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let (old_schemas, new_schemas) = (schemas(base), schemas(new));
    for (name, old) in &old_schemas {
        let context = Context {
            request: requests.contains(name),
        };
        match new_schemas.get(name) {
            None => out.push(breaking(format!("schema {name} removed"))),
            Some(now) => schema(&format!("schema {name}"), old, now, context, &mut out),
        }
    }
    for name in new_schemas.keys().filter(|n| !old_schemas.contains_key(*n)) {
        out.push(additive(format!("schema {name} added")));
    }
    // Breaking first, then additive; alphabetical within each.
    out.sort_by(|a, b| b.impact.cmp(&a.impact).then_with(|| a.what.cmp(&b.what)));
    out.dedup();
    out
}

/// The version to release after `changes`, for a 0.x crate at `current`: a breaking
/// change bumps the minor version, an additive one the patch version.
pub fn next_version(current: &str, changes: &[Change]) -> String {
    let parts: Vec<u64> = current.split('.').filter_map(|p| p.parse().ok()).collect();
    let (major, minor, patch) = match parts.as_slice() {
        [major, minor, patch] => (*major, *minor, *patch),
        _ => return current.to_owned(),
    };
    match changes.iter().map(|c| c.impact).max() {
        None => current.to_owned(),
        Some(Impact::Breaking) if major == 0 => format!("0.{}.0", minor + 1),
        Some(Impact::Breaking) => format!("{}.0.0", major + 1),
        Some(Impact::Additive) if major == 0 => format!("0.{minor}.{}", patch + 1),
        Some(Impact::Additive) => format!("{major}.{}.0", minor + 1),
    }
}

/// The report as printed: one line per change, then the suggested version.
pub fn render(changes: &[Change], current: &str) -> String {
    let mut text = String::new();
    for change in changes {
        let label = match change.impact {
            Impact::Breaking => "breaking",
            Impact::Additive => "additive",
        };
        text.push_str(&format!("{label}: {}\n", change.what));
    }
    let breaking = changes
        .iter()
        .filter(|c| c.impact == Impact::Breaking)
        .count();
    text.push_str(&format!(
        "{} changes ({breaking} breaking, {} additive): next version {} (from {current})",
        changes.len(),
        changes.len() - breaking,
        next_version(current, changes)
    ));
    text
}

fn breaking(what: String) -> Change {
    Change {
        impact: Impact::Breaking,
        what,
    }
}

fn additive(what: String) -> Change {
    Change {
        impact: Impact::Additive,
        what,
    }
}

/// Where a schema is used.
#[derive(Clone, Copy)]
struct Context {
    /// Requests carry it (alone, or besides responses): a stricter schema breaks senders.
    request: bool,
}

fn operations(base: &Spec, new: &Spec, out: &mut Vec<Change>) {
    let index = |spec: &Spec| -> BTreeMap<String, (String, String)> {
        spec.operations()
            .into_iter()
            .map(|op| (op.id, (op.method, op.path)))
            .collect()
    };
    let (old_ops, new_ops) = (index(base), index(new));
    // A new id at an old id's method and path is that operation renamed.
    let added: BTreeMap<&(String, String), &String> = new_ops
        .iter()
        .filter(|(id, _)| !old_ops.contains_key(*id))
        .map(|(id, at)| (at, id))
        .collect();
    let mut renamed = BTreeSet::new();
    for (id, (method, path)) in &old_ops {
        let Some((new_method, new_path)) = new_ops.get(id) else {
            match added.get(&(method.clone(), path.clone())) {
                Some(new_id) => {
                    renamed.insert((*new_id).clone());
                    out.push(breaking(format!(
                        "operation {id} ({method} {path}) renamed to {new_id} (its builder method changes name)"
                    )));
                }
                None => out.push(breaking(format!(
                    "operation {id} ({method} {path}) removed"
                ))),
            }
            continue;
        };
        if (method, path) != (new_method, new_path) {
            out.push(breaking(format!(
                "operation {id} moved from {method} {path} to {new_method} {new_path}"
            )));
        }
        parameters(base, new, id, out);
        statuses(base, new, id, out);
        let request_context = Context { request: true };
        if let (Ok(Some(old)), Ok(Some(now))) = (base.request_schema(id), new.request_schema(id)) {
            schema(
                &format!("{id} request body"),
                &old,
                &now,
                request_context,
                out,
            );
        }
    }
    for (id, (method, path)) in new_ops
        .iter()
        .filter(|(id, _)| !old_ops.contains_key(*id) && !renamed.contains(*id))
    {
        out.push(additive(format!("operation {id} ({method} {path}) added")));
    }
}

/// An operation's parameters by `in` and name, resolved.
fn parameter_map(spec: &Spec, id: &str) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    for (_, item) in spec.raw()["paths"].as_object().into_iter().flatten() {
        for (_, op) in item.as_object().into_iter().flatten() {
            if op.get("operationId").and_then(Value::as_str) != Some(id) {
                continue;
            }
            let shared = item.get("parameters").and_then(Value::as_array);
            let own = op.get("parameters").and_then(Value::as_array);
            for parameter in shared.into_iter().chain(own).flatten() {
                let parameter = spec.resolve(parameter);
                let key = (
                    parameter["in"].as_str().unwrap_or_default().to_owned(),
                    parameter["name"].as_str().unwrap_or_default().to_owned(),
                );
                out.insert(key, parameter.clone());
            }
        }
    }
    out
}

fn parameters(base: &Spec, new: &Spec, id: &str, out: &mut Vec<Change>) {
    let (old, now) = (parameter_map(base, id), parameter_map(new, id));
    let required = |p: &Value| p.get("required") == Some(&Value::Bool(true));
    let context = Context { request: true };
    for ((place, name), parameter) in &old {
        match now.get(&(place.clone(), name.clone())) {
            None => out.push(breaking(format!("{id}: {place} parameter {name} removed"))),
            Some(current) => {
                if required(parameter) != required(current) {
                    // Either way the builder's setter changes type.
                    let how = if required(current) {
                        "optional made required"
                    } else {
                        "required made optional"
                    };
                    out.push(breaking(format!("{id}: {place} parameter {name} {how}")));
                }
                if let (Some(a), Some(b)) = (parameter.get("schema"), current.get("schema")) {
                    schema(
                        &format!("{id}: {place} parameter {name}"),
                        a,
                        b,
                        context,
                        out,
                    );
                }
            }
        }
    }
    for ((place, name), parameter) in &now {
        if !old.contains_key(&(place.clone(), name.clone())) {
            let what = format!("{id}: {place} parameter {name} added");
            out.push(if required(parameter) {
                breaking(format!("{what}, required"))
            } else {
                additive(what)
            });
        }
    }
}

fn statuses(base: &Spec, new: &Spec, id: &str, out: &mut Vec<Change>) {
    let keys = |spec: &Spec| -> BTreeSet<String> {
        spec.responses(id)
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default()
    };
    let (old, now) = (keys(base), keys(new));
    for status in old.difference(&now) {
        out.push(breaking(format!(
            "{id}: status {status} no longer declared"
        )));
    }
    for status in now.difference(&old) {
        out.push(additive(format!("{id}: status {status} declared")));
    }
    let context = Context { request: false };
    for status in old.intersection(&now) {
        let body = |spec: &Spec| {
            spec.responses(id).ok().and_then(|r| {
                r.get(status)
                    .and_then(|response| response.pointer("/content/application~1json/schema"))
                    .cloned()
            })
        };
        match (body(base), body(new)) {
            (Some(a), Some(b)) => schema(&format!("{id} {status} body"), &a, &b, context, out),
            (Some(_), None) => out.push(breaking(format!("{id} {status}: body removed"))),
            (None, Some(_)) => out.push(additive(format!("{id} {status}: body added"))),
            (None, None) => {}
        }
    }
}

/// Compares two schemas at `at`. References are compared by name (the component itself
/// is compared once, under its own name).
fn schema(at: &str, old: &Value, new: &Value, context: Context, out: &mut Vec<Change>) {
    let reference = |s: &Value| s.get("$ref").and_then(Value::as_str).map(str::to_owned);
    if reference(old).is_some() || reference(new).is_some() {
        if reference(old) != reference(new) {
            out.push(breaking(format!(
                "{at}: type changed from {} to {}",
                describe(old),
                describe(new)
            )));
        }
        return;
    }
    let field = |s: &Value, k: &str| s.get(k).cloned();
    if field(old, "type") != field(new, "type") {
        out.push(breaking(format!(
            "{at}: type changed from {} to {}",
            describe(old),
            describe(new)
        )));
        return;
    }
    if field(old, "nullable") != field(new, "nullable") {
        out.push(breaking(format!(
            "{at}: nullable changed (the Rust type changes)"
        )));
    }
    enumeration(at, old, new, out);
    limits(at, old, new, context, out);
    // Properties and required.
    let props = |s: &Value| {
        s.get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let required = |s: &Value| -> BTreeSet<String> {
        s.get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let (old_props, new_props) = (props(old), props(new));
    let (old_required, new_required) = (required(old), required(new));
    for (name, old_prop) in &old_props {
        match new_props.get(name) {
            None => out.push(breaking(format!("{at}: field {name} removed"))),
            Some(new_prop) => {
                schema(&format!("{at}.{name}"), old_prop, new_prop, context, out);
                match (old_required.contains(name), new_required.contains(name)) {
                    (false, true) => out.push(breaking(format!(
                        "{at}: field {name} optional made required"
                    ))),
                    (true, false) => out.push(breaking(format!(
                        "{at}: field {name} required made optional"
                    ))),
                    _ => {}
                }
            }
        }
    }
    for (name, _) in new_props
        .iter()
        .filter(|(n, _)| !old_props.contains_key(*n))
    {
        if new_required.contains(name) && context.request {
            out.push(breaking(format!("{at}: required field {name} added")));
        } else {
            out.push(additive(format!("{at}: field {name} added")));
        }
    }
    for key in ["items", "additionalProperties"] {
        if let (Some(a), Some(b)) = (old.get(key), new.get(key))
            && (a.is_object() || b.is_object())
        {
            schema(&format!("{at}.{key}"), a, b, context, out);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let (Some(Value::Array(a)), Some(Value::Array(b))) = (old.get(key), new.get(key)) {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                schema(&format!("{at}.{key}[{i}]"), x, y, context, out);
            }
            if a.len() != b.len() {
                let impact = if b.len() > a.len() && key != "allOf" {
                    Impact::Additive
                } else {
                    Impact::Breaking
                };
                out.push(Change {
                    impact,
                    what: format!("{at}: {key} went from {} to {} branches", a.len(), b.len()),
                });
            }
        }
    }
}

fn describe(schema: &Value) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return reference.rsplit('/').next().unwrap_or(reference).to_owned();
    }
    match schema.get("type").and_then(Value::as_str) {
        Some(kind) => kind.to_owned(),
        None => "an untyped schema".to_owned(),
    }
}

fn enumeration(at: &str, old: &Value, new: &Value, out: &mut Vec<Change>) {
    let values = |s: &Value| -> Option<BTreeSet<String>> {
        s.get("enum")
            .and_then(Value::as_array)
            .map(|v| v.iter().map(Value::to_string).collect())
    };
    let (Some(old), Some(new)) = (values(old), values(new)) else {
        return;
    };
    for value in old.difference(&new) {
        // A value a request may send is gone: senders break. A response value gone
        // breaks a reader's exhaustive match of a closed enumeration.
        out.push(breaking(format!("{at}: enumeration value {value} removed")));
    }
    for value in new.difference(&old) {
        out.push(additive(format!("{at}: enumeration value {value} added")));
    }
}

/// Schema keywords that bound a value, and whether a larger number is stricter.
const LIMITS: [(&str, bool); 8] = [
    ("minLength", true),
    ("maxLength", false),
    ("minimum", true),
    ("maximum", false),
    ("minItems", true),
    ("maxItems", false),
    ("minProperties", true),
    ("maxProperties", false),
];

fn limits(at: &str, old: &Value, new: &Value, context: Context, out: &mut Vec<Change>) {
    for (keyword, larger_is_stricter) in LIMITS {
        let number = |s: &Value| s.get(keyword).and_then(Value::as_f64);
        let stricter = match (number(old), number(new)) {
            (None, None) => continue,
            (Some(a), Some(b)) if a == b => continue,
            (Some(a), Some(b)) => (b > a) == larger_is_stricter,
            (None, Some(_)) => true,
            (Some(_), None) => false,
        };
        let shown = |v: Option<f64>| v.map_or_else(|| "none".to_owned(), |v| v.to_string());
        let what = format!(
            "{at}: {keyword} {} -> {}",
            shown(number(old)),
            shown(number(new))
        );
        // Stricter input breaks senders; anything about output only informs readers.
        out.push(if stricter && context.request {
            breaking(format!("{what} (stricter)"))
        } else {
            additive(what)
        });
    }
    let pattern = |s: &Value| s.get("pattern").cloned();
    if pattern(old) != pattern(new) {
        let what = format!("{at}: pattern changed");
        out.push(if context.request && pattern(new).is_some() {
            breaking(what)
        } else {
            additive(what)
        });
    }
}

/// The component schemas a spec's requests (bodies and parameters) reach, following
/// references transitively.
fn sent(spec: &Spec) -> BTreeSet<String> {
    let mut roots = Vec::new();
    for (_, item) in spec.raw()["paths"].as_object().into_iter().flatten() {
        roots.push(item["parameters"].clone());
        for (_, op) in item.as_object().into_iter().flatten() {
            roots.push(spec.resolve(&op["requestBody"]).clone());
            roots.push(op["parameters"].clone());
        }
    }
    let mut seen = BTreeSet::new();
    let mut stack = roots;
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("$ref")
                    && let Some(name) = reference.strip_prefix("#/components/schemas/")
                {
                    if seen.insert(name.to_owned())
                        && let Some(target) =
                            spec.raw().pointer(&format!("/components/schemas/{name}"))
                    {
                        stack.push(target.clone());
                    }
                } else if let Some(Value::String(reference)) = map.get("$ref")
                    && let Some(target) = reference
                        .strip_prefix('#')
                        .and_then(|p| spec.raw().pointer(p))
                {
                    stack.push(target.clone());
                }
                stack.extend(map.into_iter().filter(|(k, _)| k != "$ref").map(|(_, v)| v));
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> Spec {
        Spec::parse(text).unwrap()
    }

    #[test]
    fn every_additive_mutation_is_labelled_additive() {
        let base = crate::committed_spec_text();
        let mutated = crate::additive::mutate(base).unwrap();
        let changes = report(&spec(base), &spec(&mutated));
        assert!(!changes.is_empty());
        assert!(
            changes.iter().all(|c| c.impact == Impact::Additive),
            "{}",
            render(&changes, "0.1.0")
        );
        assert!(render(&changes, "0.1.0").ends_with("next version 0.1.1 (from 0.1.0)"));
    }

    #[test]
    fn breaking_changes_are_named_and_bump_the_minor_version() {
        let base = crate::committed_spec_text();
        let mutated = base
            .replacen(
                "required: [run_id, status]",
                "required: [run_id, status, created_at]",
                1,
            )
            .replacen(
                "      enum: [api, sandbox]\n      default: api\n",
                "      enum: [api]\n      default: api\n",
                1,
            )
            .replacen(
                "operationId: get_run_usage",
                "operationId: read_run_usage",
                1,
            );
        assert_ne!(mutated, base);
        let changes = report(&spec(base), &spec(&mutated));
        let text = render(&changes, "0.1.0");
        for expected in [
            "breaking: schema Run: field created_at optional made required",
            "breaking: operation get_run_usage (GET /v1/runs/{runId}/usage) renamed to read_run_usage",
            "breaking: schema RequestedRunType: enumeration value \"sandbox\" removed",
        ] {
            assert!(text.contains(expected), "{expected:?} in\n{text}");
        }
        assert!(text.ends_with("next version 0.2.0 (from 0.1.0)"), "{text}");
        assert_eq!(next_version("0.1.0", &[]), "0.1.0");
        assert_eq!(next_version("1.4.2", &changes), "2.0.0");
    }

    #[test]
    fn a_stricter_request_limit_breaks_and_a_looser_one_does_not() {
        let base = crate::committed_spec_text();
        let at = "          type: string\n          minLength: 8\n          maxLength: 8\n";
        assert_eq!(base.matches(at).count(), 1, "the Kit code's limits moved");
        let stricter = base.replacen(at, &at.replace("maxLength: 8", "maxLength: 6"), 1);
        let changes = report(&spec(base), &spec(&stricter));
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].impact, Impact::Breaking);
        assert!(
            changes[0]
                .what
                .contains("kit_code: maxLength 8 -> 6 (stricter)"),
            "{changes:?}"
        );
        let looser = base.replacen(at, &at.replace("maxLength: 8", "maxLength: 12"), 1);
        let changes = report(&spec(base), &spec(&looser));
        assert_eq!(changes[0].impact, Impact::Additive, "{changes:?}");
    }
}
