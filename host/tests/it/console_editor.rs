//! The console's script editor end to end in a real headless Chromium:
//! type a filter with a syntax error, Run shows the error and marks its
//! line; fixed, Run shows the verdict, time and fuel; Save makes a plugin
//! version, which is attached from its page and then filters deliveries.
//! Skipped (with the reason) without chromedriver or the script engine.

use std::time::Duration;

use serde_json::json;

use crate::console::browser::{
    Client, chromedriver, fill, shot, start_driver, submit, submit_within, text,
};
use crate::console::{PASSWORD, human};
use crate::scripts::engine_available;
use crate::support::{Backend, Receiver, TestEnv, event};

const BROKEN: &str = "// deliver sharing events only\nfunction filter(event, config) {\n  return event.category === ;\n}\n";
const FIXED: &str = "// deliver sharing events only\nfunction filter(event, config) {\n  return event.category === 'SHARING';\n}\n";

async fn property(c: &Client, css: &str, name: &str) -> String {
    let el = c
        .find(css)
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"));
    let v = c
        .element(&el, "GET", &format!("property/{name}"), None)
        .await;
    v.as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_is_written_run_saved_and_attached_in_a_real_browser() {
    if !engine_available() {
        return;
    }
    let Some(path) = chromedriver() else { return };
    let env = TestEnv::start(Backend::Sqlite).await;
    let alice = human(&env, &["admin:read", "admin:write"]).await;
    let rx = Receiver::ok().await;
    let (hook, _) = env
        .webhook(&rx.url("/editor"), &["SHARING", "FILE_ACCESS"])
        .await;
    let driver = start_driver(&path).await;
    let c = Client::connect(&driver).await;

    c.goto(&format!("{}/console/sign-in", env.base)).await;
    fill(&c, "#login", &alice).await;
    fill(&c, "#password", PASSWORD).await;
    submit(&c, "#sign-in").await;
    c.goto(&format!("{}/console/plugins", env.base)).await;
    submit(&c, "#new-script").await;
    // The highlighter took over the textarea: coloured tokens, line numbers.
    assert!(
        !c.find_all(".code-view .tok-kw").await.is_empty(),
        "no highlighted keyword"
    );
    assert!(text(&c, ".code-gutter").await.starts_with('1'));

    fill(&c, "#script-name", "sharing-only").await;
    fill(&c, "#source", BROKEN).await;
    assert_eq!(property(&c, "#source", "value").await, BROKEN);
    // The process's first script run waits for the engine's compile,
    // which a loaded machine stretches well past a page's usual seconds.
    submit_within(&c, "#run", Duration::from_secs(180)).await;
    let error = text(&c, "#run-error").await;
    assert!(error.contains("SyntaxError"), "{error}");
    assert_eq!(text(&c, "#error-line").await, "3");
    assert_eq!(text(&c, ".code-gutter .error-line").await, "3");
    // The source survives the round trip, line for line.
    assert_eq!(property(&c, "#source", "value").await, BROKEN);
    shot(&c, "editor-01-syntax-error").await;
    // Saving it is refused with the same line.
    submit(&c, "#save").await;
    assert!(text(&c, "#form-error").await.contains("(line 3, column"));

    fill(&c, "#source", FIXED).await;
    submit(&c, "#run").await;
    assert_eq!(text(&c, "#verdict").await, "deliver");
    let duration: u64 = text(&c, "#duration").await.parse().unwrap();
    let fuel: u64 = text(&c, "#fuel").await.parse().unwrap();
    assert!(duration > 0 && fuel > 0, "{duration} µs, {fuel} fuel");
    assert!(c.find_all(".code-gutter .error-line").await.is_empty());
    shot(&c, "editor-02-verdict").await;

    submit(&c, "#save").await;
    let plugin_page = c.current_url().await;
    let id = plugin_page.path().rsplit('/').next().unwrap().to_string();
    assert!(id.starts_with("plg_"), "{plugin_page}");
    assert!(text(&c, "h1").await.contains("sharing-only"));
    // Attach it to the webhook from its page, as any plugin.
    submit(&c, "#attach").await;
    assert!(
        c.current_url()
            .await
            .path()
            .ends_with(&format!("/console/webhooks/{hook}"))
    );
    env.ingest(json!([
        event("evt_share", "SHARING", "share.a"),
        event("evt_file", "FILE_ACCESS", "file.read")
    ]))
    .await;
    let got = rx.wait_for(1).await;
    assert_eq!(got[0].json()["event_id"], "evt_share");
    let list = env
        .wait_deliveries(&hook, "both settled", |l| {
            l.len() == 2 && l.iter().all(|d| d["status"] != "pending")
        })
        .await;
    let other = list.iter().find(|d| d["event_id"] == "evt_file").unwrap();
    assert_eq!(other["status"], "filtered");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(rx.received().len(), 1);

    // Edit as a new version: the editor opens with the saved source.
    c.goto(plugin_page.as_str()).await;
    submit(&c, "#edit-script").await;
    assert_eq!(property(&c, "#source", "value").await, FIXED);
    assert_eq!(property(&c, "#script-name", "value").await, "sharing-only");
    submit(&c, "#save").await;
    assert!(text(&c, "h1").await.contains("version 2"));
    shot(&c, "editor-03-saved-v2").await;

    c.close().await;
    drop(driver);
    env.finish().await;
}
