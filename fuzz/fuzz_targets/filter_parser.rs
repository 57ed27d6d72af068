//! Any text: the filter parser returns a filter or an error, never panics,
//! and a parsed filter prints to text that parses back to the same filter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use teamtailor_scim::scim::filter::parse_filter;

fuzz_target!(|text: &str| {
    if let Ok(filter) = parse_filter(text) {
        let printed = filter.to_string();
        assert_eq!(parse_filter(&printed).as_ref(), Ok(&filter), "{printed}");
    }
});
