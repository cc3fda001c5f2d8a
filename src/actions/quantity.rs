//! Kubernetes resource quantities ("256Mi", "1.5Gi", "500m", "2", "129e6"): parsed into bytes
//! or millicores, and memory formatted back the way people write it.

const MIB: u64 = 1024 * 1024;

/// The value of a quantity in base units (bytes for memory, cores for cpu).
fn value(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    // "1e3" is an exponent, "1E" alone (exa) is a suffix.
    let (number, suffix) = match number.rfind(['e', 'E']) {
        Some(i) if i + 1 == number.len() => (&number[..i], &number[i..]),
        _ => (number, suffix),
    };
    let n: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0_f64.powi(2),
        "Gi" => 1024.0_f64.powi(3),
        "Ti" => 1024.0_f64.powi(4),
        "Pi" => 1024.0_f64.powi(5),
        "Ei" => 1024.0_f64.powi(6),
        _ => return None,
    };
    let v = n * factor;
    (v.is_finite() && v >= 0.0).then_some(v)
}

/// A memory quantity in bytes.
pub fn bytes(q: &str) -> Option<u64> {
    value(q).map(|v| v.ceil() as u64)
}

/// A cpu quantity in millicores.
pub fn millicores(q: &str) -> Option<u64> {
    value(q).map(|v| (v * 1000.0).ceil() as u64)
}

/// Bytes as a short human figure in binary units: `256Mi`, `1.5Gi`, `900Ki`.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("Ti", 1 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ];
    for (unit, size) in UNITS {
        if b >= size {
            let v = b as f64 / size as f64;
            return if (v - v.round()).abs() < 0.05 {
                format!("{}{unit}", v.round())
            } else {
                format!("{v:.1}{unit}")
            };
        }
    }
    format!("{b}")
}

/// A memory limit in MiB as a quantity: whole GiB as `Gi`, otherwise `Mi`.
pub fn mib_quantity(mib: u32) -> String {
    if mib >= 1024 && mib.is_multiple_of(1024) {
        format!("{}Gi", mib / 1024)
    } else {
        format!("{mib}Mi")
    }
}

/// Bytes to whole MiB, rounding up.
pub fn to_mib(bytes: u64) -> u64 {
    bytes.div_ceil(MIB)
}

/// The step a memory figure of this size is rounded up to: 64Mi below 1Gi, 128Mi below
/// 4Gi, 512Mi above (the granularity people size containers in).
pub fn memory_step_mib(mib: u64) -> u64 {
    match mib {
        0..1024 => 64,
        1024..4096 => 128,
        _ => 512,
    }
}

/// `mib` rounded up to its step.
pub fn round_up_mib(mib: u64) -> u64 {
    let step = memory_step_mib(mib);
    mib.div_ceil(step) * step
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_quantity_forms_the_api_returns() {
        assert_eq!(bytes("256Mi"), Some(256 * MIB));
        assert_eq!(bytes("1.5Gi"), Some(1536 * MIB));
        assert_eq!(bytes("1G"), Some(1_000_000_000));
        assert_eq!(bytes("129e6"), Some(129_000_000));
        assert_eq!(bytes("128974848"), Some(128_974_848));
        assert_eq!(bytes("2E"), Some(2_000_000_000_000_000_000));
        assert_eq!(bytes("12Qi"), None);
        assert_eq!(bytes("-1Mi"), None);
        assert_eq!(millicores("250m"), Some(250));
        assert_eq!(millicores("2"), Some(2000));
        assert_eq!(millicores("0.5"), Some(500));
    }

    #[test]
    fn formats_memory_like_people_write_it() {
        assert_eq!(human_bytes(256 * MIB), "256Mi");
        assert_eq!(human_bytes(1536 * MIB), "1.5Gi");
        assert_eq!(human_bytes(6 * 1024 * MIB), "6Gi");
        assert_eq!(mib_quantity(384), "384Mi");
        assert_eq!(mib_quantity(2048), "2Gi");
        assert_eq!(mib_quantity(1536), "1536Mi");
        assert_eq!(round_up_mib(384), 384);
        assert_eq!(round_up_mib(385), 448);
        assert_eq!(round_up_mib(1537), 1664);
        assert_eq!(round_up_mib(9217), 9728);
    }
}
