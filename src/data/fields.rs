//! Which flow fields a file actually carried ([`FieldSet`]).
//!
//! Why: the strict reader accepts layouts that lack some UGR'16 fields (NetShare's has no TCP
//! flags, ToS or forwarding status; a headered UGR'16 CSV may leave out the optional columns,
//! see [`crate::data::read`]). A [`Flow`](super::Flow) still has every field, so the reader
//! fills an absent one with a filler value (`flg` `......`, `fwd` and `stos` 0, `label`
//! `background`). A metric computed on filler values is no measurement (a generator without
//! flags would score a TCP-flag JSD of whatever the filler happens to match), so the reader also
//! reports which fields were really there, the external generators hand that on with their
//! roll-out ([`crate::generator::Synthetic::fields`]), and every evaluation that needs an absent
//! field skips it (or drops it on every side) and writes a marker row instead
//! ([`crate::run`] documents the rows).
//!
//! Only the fields a layout may lack are tracked: `te td sa da sp dp pr pkt byt` are required by
//! every accepted layout.

use serde::{Deserialize, Serialize};

/// A UGR'16 field that a synthetic file may lack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// TCP flags (`flg`).
    Flg,
    /// Forwarding status (`fwd`).
    Fwd,
    /// Type of service (`stos`).
    Stos,
    /// The UGR'16 label (`label`).
    Label,
}

impl Field {
    /// Every optional field, in UGR'16 column order.
    pub const ALL: [Field; 4] = [Field::Flg, Field::Fwd, Field::Stos, Field::Label];

    /// The UGR'16 column name (also the subject name of the per-field metric rows).
    pub fn name(self) -> &'static str {
        match self {
            Field::Flg => "flg",
            Field::Fwd => "fwd",
            Field::Stos => "stos",
            Field::Label => "label",
        }
    }

    /// The field whose UGR'16 column is `name`.
    pub fn parse(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }

    const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of optional fields: the ones a file carried, or the ones a metric needs.
///
/// Serialised as the list of field names (in the manifest: a generator's `fields`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct FieldSet(u8);

impl FieldSet {
    /// Every optional field: what a full UGR'16 file and every built-in generator carry.
    pub const ALL: FieldSet = FieldSet(0b1111);
    /// No optional field.
    pub const NONE: FieldSet = FieldSet(0);

    /// The set of `fields` (`const`, so that each evaluation can declare what it uses).
    pub const fn of(fields: &[Field]) -> FieldSet {
        let mut m = 0;
        let mut i = 0;
        while i < fields.len() {
            m |= fields[i].bit();
            i += 1;
        }
        FieldSet(m)
    }

    /// The union of two sets.
    pub const fn union(self, other: FieldSet) -> FieldSet {
        FieldSet(self.0 | other.0)
    }

    pub fn contains(self, f: Field) -> bool {
        self.0 & f.bit() != 0
    }

    pub fn with(self, f: Field) -> FieldSet {
        FieldSet(self.0 | f.bit())
    }

    pub fn without(self, f: Field) -> FieldSet {
        FieldSet(self.0 & !f.bit())
    }

    pub fn is_all(self) -> bool {
        self == FieldSet::ALL
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The fields in both sets.
    pub const fn intersection(self, other: FieldSet) -> FieldSet {
        FieldSet(self.0 & other.0)
    }

    /// The fields of `self` that `present` lacks.
    pub fn missing_from(self, present: FieldSet) -> FieldSet {
        FieldSet(self.0 & !present.0)
    }

    /// Fields in UGR'16 column order.
    pub fn iter(self) -> impl Iterator<Item = Field> {
        Field::ALL.into_iter().filter(move |f| self.contains(*f))
    }

    /// Field names in UGR'16 column order.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Field::name).collect()
    }
}

impl Serialize for FieldSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.names().serialize(s)
    }
}

impl<'de> Deserialize<'de> for FieldSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<FieldSet, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        names.iter().try_fold(FieldSet::NONE, |set, n| {
            Field::parse(n)
                .map(|f| set.with(f))
                .ok_or_else(|| serde::de::Error::custom(format!("unknown optional field `{n}`")))
        })
    }
}

/// `hosts` with every field outside `keep` set to the reader's filler value, so that a
/// multivariate comparison with traffic that lacks those fields sees them equal on both sides
/// (the field is dropped from the comparison, not scored on fillers).
pub fn blank(hosts: &[super::HostTraffic], keep: FieldSet) -> Vec<super::HostTraffic> {
    let mut out = hosts.to_vec();
    if keep.is_all() {
        return out;
    }
    for f in out.iter_mut().flat_map(|h| h.flows.iter_mut()) {
        if !keep.contains(Field::Flg) {
            f.flg = super::Flags(0);
        }
        if !keep.contains(Field::Fwd) {
            f.fwd = 0;
        }
        if !keep.contains(Field::Stos) {
            f.stos = 0;
        }
        if !keep.contains(Field::Label) {
            f.label = super::Label::Background;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_and_names() {
        let netshare = FieldSet::ALL
            .without(Field::Flg)
            .without(Field::Fwd)
            .without(Field::Stos);
        assert_eq!(netshare.names(), ["label"]);
        assert_eq!(
            FieldSet::ALL.missing_from(netshare).names(),
            ["flg", "fwd", "stos"]
        );
        assert!(
            FieldSet::of(&[Field::Stos])
                .missing_from(FieldSet::ALL)
                .is_empty()
        );
        let json = serde_json::to_string(&netshare).unwrap_or_default();
        assert_eq!(json, "[\"label\"]");
        let back: FieldSet = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, netshare);
        assert!(serde_json::from_str::<FieldSet>("[\"tos\"]").is_err());
        for f in Field::ALL {
            assert_eq!(Field::parse(f.name()), Some(f));
        }
    }
}
