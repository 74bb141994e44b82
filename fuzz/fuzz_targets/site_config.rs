//! Any text given to `outpost config apply` (or the cloud) is either refused with a reason or
//! accepted; an accepted document survives export and re-read unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(doc) = appliance::site::from_toml(text) {
        let again = appliance::site::from_toml(&appliance::site::to_toml(&doc)).expect("an exported document must read back");
        assert_eq!(doc, again);
    }
});
