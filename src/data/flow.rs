//! The UGR'16 flow record and its field types.

use chrono::{DateTime, NaiveDateTime};

/// One NetFlow record with the 13 UGR'16 fields (`te,td,sa,da,sp,dp,pr,flg,fwd,stos,pkt,byt,label`).
///
/// Fields are stored in compact native types (IPs as `u32`, time as Unix seconds) so that a day
/// of traffic (1.3 M flows) fits in ~60 MB and copies are cheap.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Flow {
    /// Flow end time, Unix seconds (UTC), 1-s resolution as in UGR'16.
    pub te: i64,
    /// Duration in seconds (ms precision in the source files).
    pub td: f64,
    pub sa: u32,
    pub da: u32,
    pub sp: u16,
    pub dp: u16,
    pub pr: Proto,
    pub flg: Flags,
    pub fwd: u8,
    pub stos: u8,
    pub pkt: u64,
    pub byt: u64,
    pub label: Label,
}

/// Known IP protocols: (UGR'16 name, IANA number). Order is the class order used by the encoder.
pub const PROTOCOLS: [(&str, u8); 10] = [
    ("TCP", 6),
    ("UDP", 17),
    ("ICMP", 1),
    ("GRE", 47),
    ("IPIP", 4),
    ("ESP", 50),
    ("IPv6", 41),
    ("RSVP", 46),
    ("AH", 51),
    ("SCTP", 132),
];

/// IP protocol as its IANA number; only the protocols in [`PROTOCOLS`] are accepted so that the
/// encoding is exactly invertible.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Proto(pub u8);

impl Proto {
    pub const TCP: Proto = Proto(6);
    pub const UDP: Proto = Proto(17);
    pub const ICMP: Proto = Proto(1);

    /// Parse a UGR'16 protocol name (case-insensitive) or an IANA number.
    pub fn parse(s: &str) -> Option<Proto> {
        if let Some((_, n)) = PROTOCOLS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
        {
            return Some(Proto(*n));
        }
        let n: u8 = s.parse().ok()?;
        PROTOCOLS.iter().any(|(_, k)| *k == n).then_some(Proto(n))
    }
    pub fn name(self) -> &'static str {
        PROTOCOLS
            .iter()
            .find(|(_, n)| *n == self.0)
            .map(|(s, _)| *s)
            .unwrap_or("?")
    }
    /// Class index in [`PROTOCOLS`].
    pub fn class(self) -> usize {
        PROTOCOLS
            .iter()
            .position(|(_, n)| *n == self.0)
            .unwrap_or(0)
    }
    pub fn from_class(c: usize) -> Proto {
        Proto(PROTOCOLS[c.min(PROTOCOLS.len() - 1)].1)
    }
}

/// TCP flags in nfdump 1.6 notation: six positions `U A P R S F`, `.` when unset.
/// Bit 5 = U ... bit 0 = F, so the value is a 64-way category.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

const FLAG_CHARS: [u8; 6] = *b"UAPRSF";

impl Flags {
    pub fn parse(s: &str) -> Option<Flags> {
        let b = s.as_bytes();
        if b.len() != 6 {
            return None;
        }
        let mut v = 0u8;
        for (i, (&c, &f)) in b.iter().zip(FLAG_CHARS.iter()).enumerate() {
            if c == f {
                v |= 1 << (5 - i);
            } else if c != b'.' {
                return None;
            }
        }
        Some(Flags(v))
    }
    pub fn has(self, c: u8) -> bool {
        FLAG_CHARS
            .iter()
            .position(|&f| f == c)
            .map(|i| self.0 & (1 << (5 - i)) != 0)
            .unwrap_or(false)
    }
    pub fn format(self) -> String {
        FLAG_CHARS
            .iter()
            .enumerate()
            .map(|(i, &f)| {
                if self.0 & (1 << (5 - i)) != 0 {
                    f as char
                } else {
                    '.'
                }
            })
            .collect()
    }
}

/// Flow labels: those of UGR'16 plus the ones our attack injector writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Label {
    Background,
    Blacklist,
    Dos,
    Scan11,
    Scan44,
    NerisBotnet,
    AnomalyUdpscan,
    AnomalySshscan,
    AnomalySpam,
    /// Injected by `detect::inject`.
    InjectedScan,
    InjectedDos,
    InjectedSpam,
    InjectedBeacon,
}

pub const LABELS: [(Label, &str); 13] = [
    (Label::Background, "background"),
    (Label::Blacklist, "blacklist"),
    (Label::Dos, "dos"),
    (Label::Scan11, "scan11"),
    (Label::Scan44, "scan44"),
    (Label::NerisBotnet, "nerisbotnet"),
    (Label::AnomalyUdpscan, "anomaly-udpscan"),
    (Label::AnomalySshscan, "anomaly-sshscan"),
    (Label::AnomalySpam, "anomaly-spam"),
    (Label::InjectedScan, "injected-scan"),
    (Label::InjectedDos, "injected-dos"),
    (Label::InjectedSpam, "injected-spam"),
    (Label::InjectedBeacon, "injected-beacon"),
];

impl Label {
    pub fn parse(s: &str) -> Option<Label> {
        LABELS.iter().find(|(_, n)| *n == s).map(|(l, _)| *l)
    }
    pub fn name(self) -> &'static str {
        LABELS
            .iter()
            .find(|(l, _)| *l == self)
            .map(|(_, n)| *n)
            .unwrap_or("?")
    }
}

pub fn parse_ipv4(s: &str) -> Option<u32> {
    let mut parts = s.split('.');
    let mut v = 0u32;
    for _ in 0..4 {
        let p: u8 = parts.next()?.parse().ok()?;
        v = (v << 8) | p as u32;
    }
    parts.next().is_none().then_some(v)
}

pub fn format_ipv4(ip: u32) -> String {
    let o = ip.to_be_bytes();
    format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3])
}

const TIME_FMT: &str = "%Y-%m-%d %H:%M:%S";

/// Parse UGR'16 `te` (`YYYY-MM-DD HH:MM:SS`, UTC) to Unix seconds.
pub fn parse_time(s: &str) -> Option<i64> {
    NaiveDateTime::parse_from_str(s, TIME_FMT)
        .ok()
        .map(|t| t.and_utc().timestamp())
}

pub fn format_time(t: i64) -> String {
    DateTime::from_timestamp(t, 0)
        .map(|d| d.format(TIME_FMT).to_string())
        .unwrap_or_else(|| t.to_string())
}

/// Seconds since midnight UTC of `t`.
pub fn second_of_day(t: i64) -> i64 {
    t.rem_euclid(86_400)
}

impl Flow {
    /// Whether `ip` is the source of this flow (the host's "outgoing" direction).
    pub fn is_outgoing_for(&self, ip: u32) -> bool {
        self.sa == ip
    }
    /// (own port, remote ip, remote port) seen from host `ip`.
    pub fn remote_for(&self, ip: u32) -> (u16, u32, u16) {
        if self.sa == ip {
            (self.sp, self.da, self.dp)
        } else {
            (self.dp, self.sa, self.sp)
        }
    }
}

/// Parse a `/16` prefix written as two octets (`"42.219"`) into its 16-bit value.
pub fn parse_prefix16(s: &str) -> Option<u32> {
    let mut it = s.split('.').map(|p| p.parse::<u8>());
    match (it.next(), it.next(), it.next()) {
        (Some(Ok(a)), Some(Ok(b)), None) => Some(((a as u32) << 8) | b as u32),
        _ => None,
    }
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip_all_64() {
        for v in 0..64u8 {
            let s = Flags(v).format();
            assert_eq!(Flags::parse(&s), Some(Flags(v)), "{s}");
        }
        assert_eq!(Flags::parse(".AP.SF").unwrap().format(), ".AP.SF");
        assert!(Flags::parse(".AP.S").is_none());
        assert!(Flags::parse(".XP.SF").is_none());
        assert!(Flags::parse("....S.").unwrap().has(b'S'));
    }

    #[test]
    fn ip_and_time_round_trip() {
        let ip = parse_ipv4("42.219.153.7").unwrap();
        assert_eq!(format_ipv4(ip), "42.219.153.7");
        assert!(parse_ipv4("42.219.256.1").is_none());
        assert!(parse_ipv4("1.2.3").is_none());
        assert_eq!(parse_prefix16("42.219"), Some((42 << 8) | 219));
        assert_eq!(parse_prefix16("42.219.1"), None);
        assert_eq!(parse_prefix16("42.x"), None);
        let t = parse_time("2016-04-11 00:07:24").unwrap();
        assert_eq!(t, 1_460_333_244);
        assert_eq!(format_time(t), "2016-04-11 00:07:24");
        assert_eq!(second_of_day(t), 444);
    }

    #[test]
    fn protocols_and_labels() {
        assert_eq!(Proto::parse("tcp"), Some(Proto::TCP));
        assert_eq!(Proto::parse("17"), Some(Proto::UDP));
        assert_eq!(Proto::parse("FOO"), None);
        for c in 0..PROTOCOLS.len() {
            assert_eq!(Proto::from_class(c).class(), c);
        }
        assert_eq!(Label::parse("blacklist"), Some(Label::Blacklist));
        assert_eq!(Label::Blacklist.name(), "blacklist");
        assert!(Label::parse("nope").is_none());
    }
}
