//! The attribute schema that connects an encoding (NetFlow rows, the `ar1` check data) to the
//! generic autoregressive model. The model never sees NetFlow semantics: only this list.

use serde::{Deserialize, Serialize};

/// How an attribute is modelled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AttrKind {
    /// A real value, modelled by a mixture-density head. Samples outside `[min, max]` are
    /// invalid and redrawn a bounded number of times. `rounding` says how the encoding's
    /// decoder quantises the value (counts, seconds, milliseconds); the binned likelihood then
    /// scores a training value by the whole interval that decodes to it (see [`Rounding`]).
    Continuous {
        min: f32,
        max: f32,
        #[serde(default)]
        rounding: Option<Rounding>,
    },
    /// A class index in `0..cardinality`, modelled by a softmax head. Stored in rows as `f32`.
    Discrete { cardinality: usize },
}

/// The decoder of a log-encoded quantity: an encoded `x` stands for the value
/// `round(max(0, expm1(x * scale)) * per_unit) / per_unit` (`per_unit` = 1 for counts and whole
/// seconds, 1000 for milliseconds).
///
/// Why the model needs it: many encoded values of NetFlow fields are small integers (half of
/// the inter-arrival gaps are 0 s, most flows have 1 to 10 packets), and the decoder turns
/// every draw in `[enc(v - d), enc(v + d))`, `d = 0.5 / per_unit`, into `v`. For `v` = 1 s of
/// gap that interval is 10 to 15 times wider than STAN's likelihood bin (2h = 0.005 encoded
/// units), so a model scored on the narrow bins is free to put mass between them, and all of it
/// comes back as some small value after decoding (with bins alone, quickstart seed 1 generated
/// gaps of 1 to 5 s for 30.7 % of flows against the members' 27.8 %, one-packet flows for
/// 27.7 % against 33.4 %).
///
/// [`Rounding::cell`] gives the interval the likelihood must score instead.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rounding {
    /// Encoded `x = ln(1 + v) / scale`.
    pub scale: f64,
    /// Decoded values are whole multiples of `1 / per_unit`.
    pub per_unit: f64,
}

impl Rounding {
    /// The encoded value of a decoded value `v >= 0`.
    pub fn encode(&self, v: f64) -> f64 {
        v.ln_1p() / self.scale
    }

    /// The decoded value of an encoded `x` (never negative).
    pub fn decode(&self, x: f64) -> f64 {
        ((x * self.scale).exp_m1().max(0.0) * self.per_unit).round() / self.per_unit
    }

    /// The encoded interval `(lo, hi)` of every `x'` that decodes to the same value as `x`;
    /// `lo` is minus infinity for the value 0 (the decoder maps every negative draw to 0).
    pub fn cell(&self, x: f64) -> (f64, f64) {
        let v = self.decode(x);
        let d = 0.5 / self.per_unit;
        let lo = if v > 0.0 {
            self.encode(v - d)
        } else {
            f64::NEG_INFINITY
        };
        (lo, self.encode(v + d))
    }
}

/// One column of an encoded row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    pub name: String,
    pub kind: AttrKind,
    /// `true` for conditioning attributes that the caller supplies at generation time (e.g. the
    /// hour of day, which follows from the host's clock). They are inputs, never sampled.
    pub given: bool,
}

impl Attribute {
    pub fn continuous(name: &str, min: f32, max: f32) -> Self {
        Attribute {
            name: name.into(),
            kind: AttrKind::Continuous {
                min,
                max,
                rounding: None,
            },
            given: false,
        }
    }
    pub fn discrete(name: &str, cardinality: usize) -> Self {
        Attribute {
            name: name.into(),
            kind: AttrKind::Discrete { cardinality },
            given: false,
        }
    }
    /// Declare how the decoder rounds this continuous attribute (no effect on a discrete one).
    pub fn rounded(mut self, r: Rounding) -> Self {
        if let AttrKind::Continuous { rounding, .. } = &mut self.kind {
            *rounding = Some(r);
        }
        self
    }
    pub fn given(mut self) -> Self {
        self.given = true;
        self
    }
    pub fn cardinality(&self) -> Option<usize> {
        match self.kind {
            AttrKind::Discrete { cardinality } => Some(cardinality),
            AttrKind::Continuous { .. } => None,
        }
    }
}

/// An ordered list of attributes: the layout of every encoded row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    pub attrs: Vec<Attribute>,
}

impl Schema {
    pub fn len(&self) -> usize {
        self.attrs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.attrs.is_empty()
    }
    pub fn index(&self, name: &str) -> Option<usize> {
        self.attrs.iter().position(|a| a.name == name)
    }
}

/// Encoded sequences of many hosts in one flat row-major buffer.
///
/// Host `h` owns rows `offsets[h]..offsets[h + 1]`, in time order. A model's context window never
/// crosses a host boundary.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sequences {
    pub n_attrs: usize,
    pub rows: Vec<f32>,
    pub offsets: Vec<usize>,
}

impl Sequences {
    pub fn new(n_attrs: usize) -> Self {
        Sequences {
            n_attrs,
            rows: Vec::new(),
            offsets: vec![0],
        }
    }
    pub fn n_rows(&self) -> usize {
        self.rows.len() / self.n_attrs.max(1)
    }
    pub fn n_hosts(&self) -> usize {
        self.offsets.len() - 1
    }
    pub fn row(&self, i: usize) -> &[f32] {
        &self.rows[i * self.n_attrs..(i + 1) * self.n_attrs]
    }
    /// Rows of host `h`.
    pub fn host(&self, h: usize) -> std::ops::Range<usize> {
        self.offsets[h]..self.offsets[h + 1]
    }
    /// Append one host's rows (row-major, `n_attrs` values each).
    pub fn push_host(&mut self, rows: &[f32]) {
        debug_assert_eq!(rows.len() % self.n_attrs, 0);
        self.rows.extend_from_slice(rows);
        self.offsets.push(self.n_rows());
    }
    /// Split every host's rows in time: the last `round(n * frac)` rows of a host with n rows
    /// go to the second part (at most n - 1, so the first part keeps every host). Both parts
    /// keep the host order; a host with no tail rows is absent from the second part.
    pub fn split_tail(&self, frac: f64) -> (Sequences, Sequences) {
        let (mut head, mut tail) = (Sequences::new(self.n_attrs), Sequences::new(self.n_attrs));
        for h in 0..self.n_hosts() {
            let r = self.host(h);
            let n = r.len();
            let n_tail = ((n as f64 * frac).round() as usize).min(n.saturating_sub(1));
            let cut = r.end - n_tail;
            head.push_host(&self.rows[r.start * self.n_attrs..cut * self.n_attrs]);
            if n_tail > 0 {
                tail.push_host(&self.rows[cut * self.n_attrs..r.end * self.n_attrs]);
            }
        }
        (head, tail)
    }
    /// Keep only the hosts whose index satisfies `keep`.
    pub fn select_hosts(&self, keep: impl Fn(usize) -> bool) -> Sequences {
        let mut out = Sequences::new(self.n_attrs);
        for h in 0..self.n_hosts() {
            if keep(h) {
                let r = self.host(h);
                out.push_host(&self.rows[r.start * self.n_attrs..r.end * self.n_attrs]);
            }
        }
        out
    }
}

/// Supplies the `given` attributes of each generated row and decides when a host's roll-out
/// ends. Encoding-specific (the NetFlow host clock, a fixed row count for `ar1`), so that every
/// generator (STAN and the baselines) rolls out through the same mechanism.
pub trait Conditioner: Sync {
    type State: Clone + Send;
    fn init(&self, host: usize) -> Self::State;
    /// Write the `given` attributes of the next row; return false when this host is finished.
    fn prepare(&self, state: &Self::State, row: &mut [f32]) -> bool;
    /// Adjust attribute `attr` of `row` right after it is sampled, before the row's later
    /// attributes are drawn given it (default: keep it as sampled). Samplers that draw a whole
    /// row at once call it for every attribute in column order after the row. The host clock
    /// uses it to dilate gaps ([`crate::encode::rate`]).
    fn adjust(&self, _state: &Self::State, _attr: usize, _row: &mut [f32]) {}
    /// Update the state from the fully sampled row.
    fn advance(&self, state: &mut Self::State, row: &[f32]);
}

/// No given attributes (they stay 0) and no stopping rule: every host gets the roll-out's
/// maximum number of rows (used by the `ar1` check data).
#[derive(Clone, Copy, Debug, Default)]
pub struct Unconditioned;

impl Conditioner for Unconditioned {
    type State = ();
    fn init(&self, _host: usize) {}
    fn prepare(&self, _state: &(), _row: &mut [f32]) -> bool {
        true
    }
    fn advance(&self, _state: &mut (), _row: &[f32]) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs(lens: &[usize]) -> Sequences {
        let mut s = Sequences::new(2);
        let mut k = 0.0;
        for &n in lens {
            let rows: Vec<f32> = (0..2 * n)
                .map(|_| {
                    k += 1.0;
                    k
                })
                .collect();
            s.push_host(&rows);
        }
        s
    }

    #[test]
    fn split_tail_takes_the_last_rows_of_every_host() {
        let s = seqs(&[10, 1, 4]);
        let (head, tail) = s.split_tail(0.25);
        // 10 rows -> 3 (2.5 rounds half away from zero) in the tail; 1 row -> 0 (a host keeps
        // at least one row); 4 rows -> 1.
        assert_eq!(head.offsets, vec![0, 7, 8, 11]);
        assert_eq!(tail.offsets, vec![0, 3, 4]);
        assert_eq!(tail.row(0), s.row(7));
        assert_eq!(tail.row(3), s.row(14));
        assert_eq!(head.n_rows() + tail.n_rows(), s.n_rows());
        let (all, none) = s.split_tail(0.0);
        assert_eq!((all, none.n_hosts()), (s.clone(), 0));
    }

    #[test]
    fn rounding_cells_partition_the_line_and_contain_their_values() {
        // Counts with ln(1 + 1e6) as scale, as the encoder would fit them.
        let r = Rounding {
            scale: 1e6f64.ln_1p(),
            per_unit: 1.0,
        };
        // Hand-computed: 3 is encoded as ln 4 / s and decodes from [ln 3.5 / s, ln 4.5 / s).
        let x3 = r.encode(3.0);
        assert_eq!(r.decode(x3), 3.0);
        let (lo, hi) = r.cell(x3);
        assert!((lo - 3.5f64.ln() / r.scale).abs() < 1e-15);
        assert!((hi - 4.5f64.ln() / r.scale).abs() < 1e-15);
        // Zero owns everything below ln 1.5 / s, negative draws included.
        assert_eq!(r.cell(0.0), (f64::NEG_INFINITY, 1.5f64.ln() / r.scale));
        assert_eq!(r.decode(-0.3), 0.0);
        // Adjacent cells meet, and the edges decode to the right side.
        for v in [0.0, 1.0, 2.0, 57.0, 9999.0] {
            let (_, hi) = r.cell(r.encode(v));
            let (next_lo, _) = r.cell(r.encode(v + 1.0));
            assert!((hi - next_lo).abs() < 1e-14, "{v}: {hi} vs {next_lo}");
            assert_eq!(r.decode(hi - 1e-9), v);
            assert_eq!(r.decode(hi + 1e-9), v + 1.0);
        }
        // Milliseconds: 0.25 s is 250 units of 1/1000.
        let ms = Rounding {
            scale: 400f64.ln_1p(),
            per_unit: 1000.0,
        };
        let (lo, hi) = ms.cell(ms.encode(0.25));
        assert!((lo - 1.2495f64.ln() / ms.scale).abs() < 1e-15);
        assert!((hi - 1.2505f64.ln() / ms.scale).abs() < 1e-15);
    }
}
