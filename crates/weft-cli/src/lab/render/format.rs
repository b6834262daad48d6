//! Human formatting of figures by unit: bytes in KiB/MiB, times in ns/µs/ms/s, counts and
//! rates with digit groups ("1 000 000").

use crate::lab::report::{Cell, Unit};

/// A cell as text, formatted by its column's unit; empty cells are "—".
pub fn cell(cell: &Cell, unit: Unit) -> String {
    match cell {
        Cell::Number(v) => number(*v, unit),
        Cell::Text(t) => t.clone(),
        Cell::Empty => "—".to_owned(),
    }
}

/// A number formatted by its unit.
pub fn number(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Bytes => bytes(v),
        Unit::Nanoseconds => nanos(v),
        Unit::Milliseconds => nanos(v * 1e6),
        Unit::PerSecond => format!("{}/s", grouped(v)),
        Unit::Count => grouped(v),
        Unit::Ratio => format!("{v:.2}×"),
        Unit::Text => {
            if v.fract() == 0.0 {
                grouped(v)
            } else {
                format!("{v}")
            }
        }
    }
}

/// Bytes, in B, KiB, MiB, GiB or TiB.
pub fn bytes(v: f64) -> String {
    const K: f64 = 1024.0;
    let a = v.abs();
    if a < K {
        format!("{v:.0} B")
    } else if a < K * K {
        format!("{:.2} KiB", v / K)
    } else if a < K * K * K {
        format!("{:.1} MiB", v / (K * K))
    } else if a < K * K * K * K {
        format!("{:.2} GiB", v / (K * K * K))
    } else {
        format!("{:.2} TiB", v / (K * K * K * K))
    }
}

/// Nanoseconds, in ns, µs, ms or s.
pub fn nanos(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".to_owned()
    } else if a < 100.0 {
        format!("{v:.1} ns")
    } else if a < 1e3 {
        format!("{v:.0} ns")
    } else if a < 1e6 {
        format!("{:.2} µs", v / 1e3)
    } else if a < 1e9 {
        format!("{:.1} ms", v / 1e6)
    } else {
        format!("{:.2} s", v / 1e9)
    }
}

/// A number rounded to an integer, with groups of three digits separated by spaces.
pub fn grouped(v: f64) -> String {
    let rounded = v.round();
    let digits = format!("{}", rounded.abs() as u128);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    if rounded < 0.0 {
        out.insert(0, '-');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(grouped(1_780_000.0), "1 780 000");
        assert_eq!(grouped(999.0), "999");
        assert_eq!(grouped(-1234.0), "-1 234");
        assert_eq!(bytes(233.0), "233 B");
        assert_eq!(bytes(2.0 * 1024.0 * 1024.0), "2.0 MiB");
        assert_eq!(nanos(52.0), "52.0 ns");
        assert_eq!(nanos(6_800.0), "6.80 µs");
        assert_eq!(number(365_000.0, Unit::PerSecond), "365 000/s");
    }
}
