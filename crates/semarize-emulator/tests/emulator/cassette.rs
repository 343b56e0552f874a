//! Serving a cassette: a request the recording holds gets the recorded answer (any
//! order, each once), an armed fault still answers first, and everything else is the
//! emulator as usual.

use semarize_api::cassette::{Cassette, Order};
use semarize_emulator::{Config, Emulator, Settings};

use crate::support::{Env, create_body, start};

#[tokio::test]
async fn a_served_cassette_answers_what_it_holds_and_the_emulator_the_rest() {
    // Record a creation and a read of its run from one emulator.
    let path = std::env::temp_dir().join(format!("served-{}.json", std::process::id()));
    let recorded = start(|_| {}).await;
    let cassette = Cassette::record(&path);
    let context = semarize_api::RequestContext::new()
        .with_bearer(recorded.emulator.api_key())
        .unwrap()
        .with_cassette(cassette.clone());
    let api = semarize_api::Client::new(recorded.emulator.base_url(), context);
    let created = api
        .create_run()
        .body(create_body())
        .send()
        .await
        .unwrap()
        .into_inner();
    let run_id = created.run_id.clone();
    api.get_run().run_id(&run_id).send().await.unwrap();
    drop(api);
    cassette.save().unwrap();
    drop(cassette);
    recorded.emulator.shutdown().await;

    // Serve it from another emulator, which never saw that run.
    let emulator = Emulator::start(Config {
        settings: Settings {
            run_latency_ms: 60,
            ..Settings::default()
        },
        cassette: Some(Cassette::replay(&path).unwrap().order(Order::AnyOrder)),
        ..Config::default()
    })
    .await
    .unwrap();
    let served = Env {
        emulator,
        http: reqwest::Client::new(),
    };
    let run_path = format!("/v1/runs/{run_id}");

    // An armed fault answers before the cassette, and does not use its interaction up.
    served
        .emulator
        .control()
        .fail_next("get_run", 1, 503, Some(1));
    assert_eq!(served.get(&run_path).await.status, 503);

    let reply = served.get(&run_path).await;
    assert_eq!(reply.status, 200, "the recorded answer: {:?}", reply.body);
    assert_eq!(reply.json()["run_id"], run_id.as_str());
    // The only recorded read is used: the emulator answers as itself, and it has no
    // such run.
    assert_eq!(served.get(&run_path).await.status, 404);
    // A request the cassette never held: the emulator as usual.
    assert_eq!(served.get("/v1/runs?limit=5").await.status, 200);
    let fresh = served.create(&create_body(), Some("new-key")).await;
    assert_eq!(fresh.status, 202);
    assert_ne!(
        fresh.json()["run_id"],
        run_id.as_str(),
        "a new run of this emulator"
    );
    std::fs::remove_file(&path).ok();
}
