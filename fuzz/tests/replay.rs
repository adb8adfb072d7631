//! Every corpus and regression input of every fuzz target, run on stable:
//! seconds, so that a fixed crash stays fixed in every `cargo test`.

use std::fs;
use std::path::Path;

#[test]
fn every_saved_input_of_every_target_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, target) in sessiond_fuzz::TARGETS {
        let mut ran = 0;
        for dir in ["corpus", "regressions"] {
            let Ok(entries) = fs::read_dir(root.join(dir).join(name)) else {
                continue;
            };
            for entry in entries {
                let path = entry.expect("a readable corpus folder").path();
                let input = fs::read(&path).expect("a readable corpus file");
                let outcome = std::panic::catch_unwind(|| target(&input));
                assert!(outcome.is_ok(), "{name} fails on {}", path.display());
                ran += 1;
            }
        }
        // Each target ships seeds: a replay that finds none has lost them.
        assert!(
            ran > 0,
            "no saved inputs for {name} under fuzz/corpus or fuzz/regressions"
        );
    }
}
