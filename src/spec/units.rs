//! Durations (`500us`, `250ms`, `20s`, `5m`, `1h`) and sizes (`512KiB`, `1MiB`) as written in specs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written with a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub const fn from_millis(ms: u64) -> Self {
        Self(std::time::Duration::from_millis(ms))
    }
    pub const fn from_secs(s: u64) -> Self {
        Self(std::time::Duration::from_secs(s))
    }
    pub fn as_millis(&self) -> u128 {
        self.0.as_millis()
    }
    pub fn as_secs(&self) -> u64 {
        self.0.as_secs()
    }
    pub fn as_micros(&self) -> u128 {
        self.0.as_micros()
    }
}

impl FromStr for Duration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(|| {
            format!("duration `{s}` needs a unit: us, ms, s, m or h (e.g. `250ms`)")
        })?;
        let (num, unit) = s.split_at(split);
        let unit = unit.trim_start();
        let n: u64 = num
            .parse()
            .map_err(|_| format!("duration `{s}` must start with a whole number (e.g. `250ms`)"))?;
        let micros = match unit {
            "us" | "µs" => 1,
            "ms" => 1_000,
            "s" => 1_000_000,
            "m" => 60_000_000,
            "h" => 3_600_000_000,
            _ => {
                return Err(format!(
                    "duration `{s}` has unknown unit `{unit}`; use us, ms, s, m or h"
                ));
            }
        };
        n.checked_mul(micros)
            .map(|us| Duration(std::time::Duration::from_micros(us)))
            .ok_or_else(|| format!("duration `{s}` is too large"))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.0.as_micros();
        for (unit, per) in [
            ("h", 3_600_000_000u128),
            ("m", 60_000_000),
            ("s", 1_000_000),
            ("ms", 1_000),
        ] {
            if us >= per && us.is_multiple_of(per) {
                return write!(f, "{}{unit}", us / per);
            }
        }
        write!(f, "{us}us")
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A size in bytes written with a unit (`B`, `KiB`, `MiB`, `GiB`, `KB`, `MB`, `GB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("size `{s}` must start with a whole number (e.g. `1MiB`)"))?;
        let mult = match unit.trim() {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            "KB" | "kB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            other => {
                return Err(format!(
                    "size `{s}` has unknown unit `{other}`; use B, KiB, MiB, GiB, KB, MB or GB"
                ));
            }
        };
        n.checked_mul(mult)
            .map(ByteSize)
            .ok_or_else(|| format!("size `{s}` is too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, per) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if self.0 >= per && self.0.is_multiple_of(per) {
                return write!(f, "{}{unit}", self.0 / per);
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Accept a bare integer (bytes) as well as a string with a unit.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(ByteSize(n)),
            Raw::S(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A rate written as `count/period`: `50/s`, `5/m`, `1000/h`, or `10/30s` (any duration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    /// Requests allowed per period (at least 1).
    pub count: u32,
    pub per: Duration,
}

impl FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let hint = "(e.g. `50/s`, `5/m`, `100/10s`)";
        let (count, per) = s
            .split_once('/')
            .ok_or_else(|| format!("rate `{s}` needs a period: `count/period` {hint}"))?;
        let count: u32 = match count.trim().parse() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(format!(
                    "rate `{s}` must start with a whole number above 0 {hint}"
                ));
            }
        };
        let per = per.trim();
        let per = match per {
            "s" | "m" | "h" => format!("1{per}").parse::<Duration>(),
            _ if per.chars().all(|c| c.is_ascii_alphabetic()) => {
                return Err(format!(
                    "rate `{s}` has unknown period `{per}`; use s, m, h or a duration such as `10s`"
                ));
            }
            _ => per.parse::<Duration>(),
        }
        .map_err(|e| format!("rate `{s}`: {e}"))?;
        if per.0.is_zero() {
            return Err(format!("rate `{s}` needs a period above zero {hint}"));
        }
        Ok(Rate { count, per })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.per.to_string().strip_prefix('1') {
            Some(unit @ ("s" | "m" | "h")) => write!(f, "{}/{unit}", self.count),
            _ => write!(f, "{}/{}", self.count, self.per),
        }
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// What a value prints parses back to the same value.
        #[test]
        fn display_parses_back(us in 0u64..1_000_000_000_000_000, bytes in any::<u64>()) {
            let d = Duration(std::time::Duration::from_micros(us));
            prop_assert_eq!(d.to_string().parse::<Duration>(), Ok(d));
            prop_assert_eq!(ByteSize(bytes).to_string().parse::<ByteSize>(), Ok(ByteSize(bytes)));
        }

        /// Parsing arbitrary text never panics.
        #[test]
        fn parse_any_text(s in "\\PC{0,12}") {
            let _ = s.parse::<Duration>();
            let _ = s.parse::<ByteSize>();
        }
    }

    #[test]
    fn durations() {
        assert_eq!("500us".parse::<Duration>().unwrap().0.as_micros(), 500);
        assert_eq!("250ms".parse::<Duration>().unwrap().as_millis(), 250);
        assert_eq!("5m".parse::<Duration>().unwrap().as_secs(), 300);
        assert_eq!("1h".parse::<Duration>().unwrap().as_secs(), 3600);
        assert!("5".parse::<Duration>().is_err());
        assert!("5d".parse::<Duration>().is_err());
        assert_eq!("5m".parse::<Duration>().unwrap().to_string(), "5m");
        assert_eq!("10 s".parse::<Duration>().unwrap().as_secs(), 10);
        assert_eq!("1500ms".parse::<Duration>().unwrap().to_string(), "1500ms");
        assert_eq!("90s".parse::<Duration>().unwrap().to_string(), "90s");
        let err = "10 seconds".parse::<Duration>().unwrap_err();
        assert_eq!(
            err,
            "duration `10 seconds` has unknown unit `seconds`; use us, ms, s, m or h"
        );
        assert!("-5s".parse::<Duration>().is_err());
        assert!("99999999999999999h".parse::<Duration>().is_err());
    }

    #[test]
    fn rates() {
        let r: Rate = "50/s".parse().unwrap();
        assert_eq!((r.count, r.per.as_secs()), (50, 1));
        assert_eq!(r.to_string(), "50/s");
        assert_eq!("5/m".parse::<Rate>().unwrap().per.as_secs(), 60);
        assert_eq!("10/30s".parse::<Rate>().unwrap().to_string(), "10/30s");
        assert!("0/s".parse::<Rate>().is_err());
        assert!("50".parse::<Rate>().is_err());
        assert!("5/d".parse::<Rate>().is_err());
        assert!("5/0s".parse::<Rate>().is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!("1MiB".parse::<ByteSize>().unwrap().0, 1 << 20);
        assert_eq!("512KiB".parse::<ByteSize>().unwrap().0, 512 << 10);
        assert!("1XB".parse::<ByteSize>().is_err());
        assert_eq!("2048".parse::<ByteSize>().unwrap().0, 2048);
        assert_eq!("1 MiB".parse::<ByteSize>().unwrap().0, 1 << 20);
        assert_eq!(ByteSize(1 << 20).to_string(), "1MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000B");
        assert!("99999999999GiB".parse::<ByteSize>().is_err());
    }
}
