//! Any bytes as a POST/PUT body: decoded into a User request or rejected,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use teamtailor_scim::scim::resource::UserRequest;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(body) = serde_json::from_slice::<serde_json::Value>(bytes) {
        if let Ok(request) = UserRequest::from_json(&body) {
            let _ = request.attributes.to_document(request.active.unwrap_or(true));
        }
    }
});
