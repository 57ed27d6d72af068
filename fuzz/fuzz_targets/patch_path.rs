//! Any text as a PATCH path, and any PATCH body applied to a user document:
//! errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use teamtailor_scim::scim::{patch, path};

fuzz_target!(|text: &str| {
    if let Ok(parsed) = path::parse_patch_path(text) {
        let _ = path::resolve(&parsed.attr);
    }
    if let Ok(body) = serde_json::from_str::<serde_json::Value>(text) {
        if let Ok(operations) = patch::parse_request(&body) {
            let mut document = serde_json::Map::new();
            document.insert("userName".into(), "fuzz@example.com".into());
            let _ = patch::apply(&mut document, &operations);
        }
    }
});
