//! Fuzz target: no input makes the CCS, HML or `.aut` parsers panic, and whatever parses
//! as CCS prints and parses back to the same module.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(program) = weft_ccs::Program::parse("fuzz.ccs", text) {
        let printed = program.module.to_string();
        let again =
            weft_ccs::parse::parse_module("again.ccs", &printed).expect("printed modules parse");
        assert_eq!(again, program.module);
        let _ = program.process("A");
    }
    let _ = weft_ccs::parse::parse_process("fuzz", text);
    let _ = weft_ccs::hml::Formula::parse(text);
    let _ = weft_ccs::aut::read("fuzz.aut", text);
});
