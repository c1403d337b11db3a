//! The module map holds: no import circles in `host/src`, at the level of
//! files and of top-level modules (ARCHITECTURE.md's layering rule).
//! `scripts/module-graph` computes the graph; this runs it.

#[test]
fn host_modules_import_no_circles() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/module-graph");
    for args in [&[][..], &["--top"][..]] {
        let out = std::process::Command::new("python3")
            .arg(script)
            .args(args)
            .output()
            .expect("python3 runs scripts/module-graph");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "import circles {args:?}:\n{text}");
        assert!(text.contains("no import circles"), "{text}");
    }
}
