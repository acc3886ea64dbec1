//! Protobuf -> JSON in one pass over the bytes of each message, written as
//! JSON text straight into the caller's buffer in field-number order, as
//! prost-reflect's serializer writes them. No `DynamicMessage`, no
//! allocation per field or string.
//!
//! Bytes in the shape every encoder produces (fields in number order, each
//! non-repeated field once) are written as they are read
//! ([`Dec::stream`]); a message of any other shape has its fields located
//! first (pushed on a stack of occurrences, every length checked against the
//! buffer, unknown fields skipped), grouped by field, then written. A stream
//! gives up on a message only before it has written anything nested, so no
//! work is done twice.
//!
//! prost-reflect (`DynamicMessage::decode` + its serde `Serialize`) is the
//! reference and this module gives byte-equal output (map entries aside,
//! whose order prost-reflect leaves to a `HashMap`), and rejects the same
//! inputs: prost's wire checks and recursion limit are mirrored, and the
//! protobuf merge rules hold whatever the order of fields on the wire:
//! - the last value of a non-repeated scalar wins (earlier strings are still
//!   checked for UTF-8);
//! - occurrences of a non-repeated message merge (they are read as one
//!   message made of several byte ranges);
//! - repeated fields collect every occurrence, packed or not, contiguous or
//!   not; map entries collect and the last entry of a key wins;
//! - in a oneof the last member wins, and a message member keeps only what
//!   came after the last other member.
//!
//! Well-known types are read and written by prost-reflect for their subtree.

use std::cell::RefCell;

use prost::Message;
use prost_reflect::DynamicMessage;

use super::json::{PROTOBUF, PbDecodeOptions, serialize_options};
use super::plan::{Card, FieldPlan, Kind, MsgPlan, Plans};
use super::wire::{
    FIXED32, FIXED64, LEN, RECURSION_LIMIT, Reader, VARINT, WireError, unzigzag32, unzigzag64,
};
use crate::CodecError;
use crate::json_text::{
    write_base64, write_f32, write_f64, write_i64, write_quoted_i64, write_quoted_u64, write_str,
    write_u64,
};

/// Decodes `bytes` as the root message of `plans` and appends its JSON to
/// `out` (left as it was on error).
pub(super) fn decode(
    plans: &Plans,
    bytes: &[u8],
    opts: &PbDecodeOptions,
    out: &mut Vec<u8>,
) -> Result<(), Box<CodecError>> {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => decode_with(plans, bytes, opts, out, &mut scratch),
        // Not reentered in practice; a fresh scratch if it ever is.
        Err(_) => decode_with(plans, bytes, opts, out, &mut Scratch::default()),
    })
}

fn decode_with(
    plans: &Plans,
    bytes: &[u8],
    opts: &PbDecodeOptions,
    out: &mut Vec<u8>,
    scratch: &mut Scratch,
) -> Result<(), Box<CodecError>> {
    let start = out.len();
    let mut reference = None;
    let mut d = Dec {
        plans,
        buf: bytes,
        opts,
        out,
        occ: &mut scratch.occ,
        oneof: &mut scratch.oneof,
        entries: &mut scratch.entries,
        reference: &mut reference,
    };
    match d.message(plans.root, Parts::One(0, bytes.len()), RECURSION_LIMIT) {
        Ok(()) => Ok(()),
        Err(e) => Err(failed(e, reference, out, start, scratch)),
    }
}

#[cold]
#[inline(never)]
fn failed(
    e: WireError,
    reference: Option<String>,
    out: &mut Vec<u8>,
    start: usize,
    scratch: &mut Scratch,
) -> Box<CodecError> {
    out.truncate(start);
    scratch.occ.clear();
    scratch.oneof.clear();
    scratch.entries.clear();
    let message = match (e, reference) {
        (WireError::Reference, Some(m)) => m,
        (e, _) => e.to_string(),
    };
    Box::new(CodecError::wire(PROTOBUF, message))
}

/// Reused between calls on a thread, so that a decode allocates nothing
/// once warm (empty between calls).
#[derive(Default)]
struct Scratch {
    occ: Vec<Occ>,
    oneof: Vec<OneofState>,
    entries: Vec<Entry>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// One occurrence of a known field on the wire.
#[derive(Debug, Clone, Copy)]
struct Occ {
    /// Index in the message plan's fields.
    field: u32,
    /// Order of appearance within the message.
    seq: u32,
    /// Varint value, fixed-width bits, or (LEN) start offset.
    v: u64,
    /// (LEN) end offset.
    end: usize,
    wt: u8,
}

impl Occ {
    #[inline]
    fn range(&self) -> (usize, usize) {
        (self.v as usize, self.end)
    }
}

/// The member of a oneof seen last, and since when it was seen without
/// another member in between.
#[derive(Debug, Clone, Copy)]
struct OneofState {
    member: u32,
    since: u32,
}

/// A map entry: its key and where its value occurrences are in `occ`.
#[derive(Debug, Clone, Copy)]
struct Entry {
    key: MapKey,
    /// The key's (last) occurrence (none: the default key).
    key_occ: Option<Occ>,
    value: Values,
    superseded: bool,
}

/// The occurrences of a map entry's value.
#[derive(Debug, Clone, Copy)]
enum Values {
    /// The default value.
    None,
    One(Occ),
    /// `occ[from..to]` (a message value given in parts, or a scalar given
    /// more than once).
    Occs(usize, usize),
}

/// A map key as compared for "the last entry of a key wins".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MapKey {
    /// (start, end) of the string's bytes.
    Str(usize, usize),
    /// Integers and bools, as the value their kind reads.
    Int(u64),
}

/// The bytes of one message: one range, or the LEN occurrences
/// `occ[from..to]` seen at or after `since` (a merged message field).
#[derive(Debug, Clone, Copy)]
enum Parts {
    One(usize, usize),
    Occs { from: usize, to: usize, since: u32 },
}

struct Dec<'p, 'b, 'o, 's> {
    plans: &'p Plans,
    buf: &'b [u8],
    opts: &'p PbDecodeOptions,
    out: &'o mut Vec<u8>,
    occ: &'s mut Vec<Occ>,
    oneof: &'s mut Vec<OneofState>,
    entries: &'s mut Vec<Entry>,
    /// The message of a [`WireError::Reference`].
    reference: &'s mut Option<String>,
}

impl<'p> Dec<'p, '_, '_, '_> {
    /// Writes message `msg` as a JSON object. `ctx` is prost's recursion
    /// budget for its fields.
    fn message(&mut self, msg: u32, parts: Parts, ctx: u32) -> Result<(), WireError> {
        let plans = self.plans;
        let m: &'p MsgPlan = &plans.msgs[msg as usize];
        if m.delegate {
            return self.delegated(msg, parts, ctx);
        }
        if let Parts::One(start, end) = parts
            && self.stream(m, start, end, ctx)?
        {
            return Ok(());
        }
        let base = self.occ.len();
        let obase = self.oneof.len();
        let sorted = self.scan(m, parts, ctx)?;
        if !sorted {
            // Stable: occurrences of a field stay in wire order.
            self.occ[base..].sort_by_key(|o| o.field);
        }
        self.out.push(b'{');
        let mut first = true;
        let end = self.occ.len();
        let mut i = base;
        if self.opts.emit_defaults {
            for (fi, f) in m.fields.iter().enumerate() {
                let j = self.group_end(i, end, fi as u32);
                if j > i {
                    self.field(m, i, j, ctx, obase, &mut first)?;
                } else if !f.presence {
                    self.default_field(f, &mut first);
                }
                i = j;
            }
        } else {
            while i < end {
                let j = self.group_end(i + 1, end, self.occ[i].field);
                self.field(m, i, j, ctx, obase, &mut first)?;
                i = j;
            }
        }
        self.out.push(b'}');
        self.occ.truncate(base);
        self.oneof.truncate(obase);
        Ok(())
    }

    /// Writes a message whose bytes have the canonical shape (fields in
    /// number order, each once unless repeated, at most one member of a
    /// oneof) as it reads them. `Ok(false)`, with nothing written, for any
    /// other shape, which [`message`](Self::message) then sorts out.
    fn stream(
        &mut self,
        m: &'p MsgPlan,
        start: usize,
        end: usize,
        ctx: u32,
    ) -> Result<bool, WireError> {
        if m.oneofs.len() > 64 {
            return Ok(false);
        }
        let at = self.out.len();
        let obase = self.oneof.len();
        self.oneof.resize(
            obase + m.oneofs.len(),
            OneofState {
                member: u32::MAX,
                since: 0,
            },
        );
        let r = self.stream_fields(m, start, end, ctx, obase);
        self.oneof.truncate(obase);
        if let Ok(false) = r {
            self.out.truncate(at);
        }
        r
    }

    fn stream_fields(
        &mut self,
        m: &'p MsgPlan,
        start: usize,
        end: usize,
        ctx: u32,
        obase: usize,
    ) -> Result<bool, WireError> {
        let mut r = Reader::new(self.buf, start, end);
        self.out.push(b'{');
        let mut first = true;
        // Fields below this index are done.
        let mut next = 0u32;
        // Oneofs with a member seen.
        let mut oneofs = 0u64;
        // The rest of the bytes has been found in shape: nothing below
        // gives up any more.
        let mut checked = false;
        let mut pending = if r.at_end() { None } else { Some(r.key()?) };
        while let Some((number, wt)) = pending {
            let Some(fi) = m.field_by_number(number) else {
                r.skip_unknown(number, wt, ctx)?;
                pending = if r.at_end() { None } else { Some(r.key()?) };
                continue;
            };
            if fi < next {
                return Ok(false);
            }
            let f = &m.fields[fi as usize];
            if self.opts.emit_defaults {
                self.defaults(m, next, fi, &mut first);
            }
            next = fi + 1;
            if let Some(o) = f.oneof {
                if oneofs & (1 << o) != 0 {
                    return Ok(false);
                }
                oneofs |= 1 << o;
                self.oneof[obase + o as usize].member = fi;
            }
            // Giving up after nested messages were written would do their
            // work twice (and at every level below: 2^depth): make sure
            // first that this will not happen.
            if f.nested && !checked {
                if !self.in_shape(m, r.pos, end, fi, wt, oneofs, ctx)? {
                    return Ok(false);
                }
                checked = true;
            }
            let (wt, v, e) = read_value(&mut r, f, wt)?;
            pending = if r.at_end() { None } else { Some(r.key()?) };
            let o = Occ {
                field: fi,
                seq: 0,
                v,
                end: e,
                wt,
            };
            if f.card == Card::Single && !matches!(f.kind, Kind::Message(_)) {
                if matches!(pending, Some((n, _)) if n == number) {
                    return Ok(false);
                }
                if f.presence || self.opts.emit_defaults || !is_default(f, &o) {
                    self.key(f, &mut first);
                    self.scalar(f.kind, o)?;
                }
                continue;
            }
            // The run of this field's occurrences.
            let i = self.occ.len();
            self.occ.push(o);
            while let Some((n, t)) = pending
                && n == number
            {
                let (wt, v, e) = read_value(&mut r, f, t)?;
                self.occ.push(Occ {
                    field: fi,
                    seq: 0,
                    v,
                    end: e,
                    wt,
                });
                pending = if r.at_end() { None } else { Some(r.key()?) };
            }
            let j = self.occ.len();
            let done = self.field(m, i, j, ctx, obase, &mut first);
            self.occ.truncate(i);
            done?;
        }
        if self.opts.emit_defaults {
            self.defaults(m, next, m.fields.len() as u32, &mut first);
        }
        self.out.push(b'}');
        Ok(true)
    }

    /// Whether the rest of a message, from the value of field `fi` (at
    /// `pos`) on, keeps the shape [`stream`](Self::stream) needs: fields in
    /// order, non-repeated fields once, one member per oneof.
    #[allow(clippy::too_many_arguments)]
    fn in_shape(
        &self,
        m: &MsgPlan,
        pos: usize,
        end: usize,
        fi: u32,
        wt: u8,
        mut oneofs: u64,
        ctx: u32,
    ) -> Result<bool, WireError> {
        let mut r = Reader::new(self.buf, pos, end);
        read_value(&mut r, &m.fields[fi as usize], wt)?;
        let mut prev = fi;
        while !r.at_end() {
            let (number, wt) = r.key()?;
            let Some(fi) = m.field_by_number(number) else {
                r.skip_unknown(number, wt, ctx)?;
                continue;
            };
            let f = &m.fields[fi as usize];
            if fi < prev || (fi == prev && f.card == Card::Single) {
                return Ok(false);
            }
            if fi != prev
                && let Some(o) = f.oneof
            {
                if oneofs & (1 << o) != 0 {
                    return Ok(false);
                }
                oneofs |= 1 << o;
            }
            read_value(&mut r, f, wt)?;
            prev = fi;
        }
        Ok(true)
    }

    /// Writes the defaults of fields `from..to` without presence.
    fn defaults(&mut self, m: &MsgPlan, from: u32, to: u32, first: &mut bool) {
        for f in &m.fields[from as usize..to as usize] {
            if !f.presence {
                self.default_field(f, first);
            }
        }
    }

    #[inline]
    fn group_end(&self, mut j: usize, end: usize, field: u32) -> usize {
        while j < end && self.occ[j].field == field {
            j += 1;
        }
        j
    }

    /// Finds the known fields of a message (pushed on `occ`) and the oneof
    /// winners (pushed on `oneof`); tells whether they came in field order.
    fn scan(&mut self, m: &MsgPlan, parts: Parts, ctx: u32) -> Result<bool, WireError> {
        let obase = self.oneof.len();
        self.oneof.resize(
            obase + m.oneofs.len(),
            OneofState {
                member: u32::MAX,
                since: 0,
            },
        );
        let mut sorted = true;
        let mut last = 0u32;
        let mut seq = 0u32;
        let mut k = 0;
        loop {
            let (start, end) = match parts {
                Parts::One(s, e) => {
                    if k > 0 {
                        break;
                    }
                    (s, e)
                }
                Parts::Occs { from, to, since } => {
                    while from + k < to && self.occ[from + k].seq < since {
                        k += 1;
                    }
                    if from + k >= to {
                        break;
                    }
                    self.occ[from + k].range()
                }
            };
            k += 1;
            let mut r = Reader::new(self.buf, start, end);
            while !r.at_end() {
                let (number, wt) = r.key()?;
                let Some(fi) = m.field_by_number(number) else {
                    if m.map_entry {
                        r.skip_field(number, wt, ctx)?;
                    } else {
                        r.skip_unknown(number, wt, ctx)?;
                    }
                    continue;
                };
                let f = &m.fields[fi as usize];
                let (wt, v, end) = read_value(&mut r, f, wt)?;
                if let Some(o) = f.oneof {
                    let st = &mut self.oneof[obase + o as usize];
                    if st.member != fi {
                        st.member = fi;
                        st.since = seq;
                    }
                }
                sorted &= fi >= last;
                last = fi;
                self.occ.push(Occ {
                    field: fi,
                    seq,
                    v,
                    end,
                    wt,
                });
                seq += 1;
            }
        }
        Ok(sorted)
    }

    #[inline]
    fn key(&mut self, f: &FieldPlan, first: &mut bool) {
        if !*first {
            self.out.push(b',');
        }
        *first = false;
        self.out.extend_from_slice(if self.opts.proto_field_names {
            &f.proto_key
        } else {
            &f.json_key
        });
    }

    /// Writes the field whose occurrences are `occ[i..j]`.
    fn field(
        &mut self,
        m: &'p MsgPlan,
        i: usize,
        j: usize,
        ctx: u32,
        obase: usize,
        first: &mut bool,
    ) -> Result<(), WireError> {
        let f = &m.fields[self.occ[i].field as usize];
        let mut since = 0;
        if let Some(o) = f.oneof {
            let st = self.oneof[obase + o as usize];
            if st.member != self.occ[i].field {
                // Cleared by a later member: read, not shown.
                return self.check_occs(f, i, j, ctx);
            }
            since = st.since;
        }
        match f.card {
            Card::Single => {
                if let Kind::Message(sub) = f.kind {
                    // Occurrences before another oneof member are dropped.
                    for k in i..j {
                        if self.occ[k].seq < since {
                            let o = self.occ[k];
                            self.check_value(f.kind, o, ctx)?;
                        }
                    }
                    if ctx == 0 {
                        return Err(WireError::RecursionLimit);
                    }
                    self.key(f, first);
                    return self.message(
                        sub,
                        Parts::Occs {
                            from: i,
                            to: j,
                            since,
                        },
                        ctx - 1,
                    );
                }
                // The last value wins; the others are still checked.
                if f.kind == Kind::String {
                    for k in i..j - 1 {
                        let o = self.occ[k];
                        self.check_value(f.kind, o, ctx)?;
                    }
                }
                let o = self.occ[j - 1];
                if !f.presence && !self.opts.emit_defaults && is_default(f, &o) {
                    return self.check_value(f.kind, o, ctx);
                }
                self.key(f, first);
                self.scalar(f.kind, o)
            }
            Card::List => {
                let was_first = *first;
                let at = self.out.len();
                self.key(f, first);
                self.out.push(b'[');
                let mut n = 0usize;
                for k in i..j {
                    let o = self.occ[k];
                    if o.wt == LEN && f.kind.packable() {
                        let (s, e) = o.range();
                        let mut r = Reader::new(self.buf, s, e);
                        let wt = f.kind.wire_type();
                        while !r.at_end() {
                            let raw = read_raw(&mut r, wt)?;
                            if n > 0 {
                                self.out.push(b',');
                            }
                            n += 1;
                            self.number(f.kind, raw);
                        }
                        continue;
                    }
                    if n > 0 {
                        self.out.push(b',');
                    }
                    n += 1;
                    match f.kind {
                        Kind::Message(sub) => {
                            if ctx == 0 {
                                return Err(WireError::RecursionLimit);
                            }
                            let (s, e) = o.range();
                            self.message(sub, Parts::One(s, e), ctx - 1)?;
                        }
                        k => self.scalar(k, o)?,
                    }
                }
                if n == 0 && !self.opts.emit_defaults {
                    self.out.truncate(at);
                    *first = was_first;
                } else {
                    self.out.push(b']');
                }
                Ok(())
            }
            Card::Map => self.map(f, i, j, ctx, first),
        }
    }

    fn map(
        &mut self,
        f: &FieldPlan,
        i: usize,
        j: usize,
        ctx: u32,
        first: &mut bool,
    ) -> Result<(), WireError> {
        let Kind::Message(entry) = f.kind else {
            unreachable!("a map field's kind is its entry message")
        };
        let plans = self.plans;
        let em: &'p MsgPlan = &plans.msgs[entry as usize];
        let (kf, vf) = (&em.fields[0], &em.fields[1]);
        let base = self.occ.len();
        let ebase = self.entries.len();
        // Read every entry first: a later entry may replace an earlier one.
        for k in i..j {
            let (s, e) = self.occ[k].range();
            let (key_occ, value) = match self.simple_entry(em, s, e) {
                Some(kv) => kv,
                None => self.scan_entry(em, s, e, ctx)?,
            };
            let key = match key_occ {
                Some(o) => self.map_key(kf.kind, &o)?,
                None if kf.kind == Kind::String => MapKey::Str(0, 0),
                None => MapKey::Int(0),
            };
            self.entries.push(Entry {
                key,
                key_occ,
                value,
                superseded: false,
            });
        }
        self.mark_superseded(ebase);
        let was_first = *first;
        let at = self.out.len();
        self.key(f, first);
        self.out.push(b'{');
        let mut n = 0;
        for x in ebase..self.entries.len() {
            let e = self.entries[x];
            if e.superseded {
                match e.value {
                    Values::None => {}
                    Values::One(o) => self.check_value(vf.kind, o, ctx)?,
                    Values::Occs(vi, vj) => self.check_occs(vf, vi, vj, ctx)?,
                }
                continue;
            }
            if n > 0 {
                self.out.push(b',');
            }
            n += 1;
            match e.key_occ {
                Some(o) => self.map_key_text(kf.kind, &o),
                None => self.default_map_key(kf.kind),
            }
            self.out.push(b':');
            match (vf.kind, e.value) {
                (Kind::Message(sub), Values::None) => {
                    self.message(sub, Parts::One(0, 0), ctx.saturating_sub(1))?;
                }
                (Kind::Message(sub), value) => {
                    if ctx == 0 {
                        return Err(WireError::RecursionLimit);
                    }
                    let parts = match value {
                        Values::Occs(from, to) => Parts::Occs { from, to, since: 0 },
                        Values::One(o) => Parts::One(o.v as usize, o.end),
                        Values::None => unreachable!("matched above"),
                    };
                    self.message(sub, parts, ctx - 1)?;
                }
                (_, Values::None) => self.default_value(vf),
                (k, Values::One(o)) => self.scalar(k, o)?,
                (k, Values::Occs(vi, vj)) => {
                    if k == Kind::String {
                        for q in vi..vj - 1 {
                            let o = self.occ[q];
                            self.check_value(k, o, ctx)?;
                        }
                    }
                    let o = self.occ[vj - 1];
                    self.scalar(k, o)?;
                }
            }
        }
        if n == 0 && !self.opts.emit_defaults {
            self.out.truncate(at);
            *first = was_first;
        } else {
            self.out.push(b'}');
        }
        self.entries.truncate(ebase);
        self.occ.truncate(base);
        Ok(())
    }

    /// A map entry in the usual shape (the key, then the value, each at
    /// most once, nothing else); `None` for anything else, left to
    /// [`scan_entry`](Self::scan_entry).
    #[inline]
    fn simple_entry(&self, em: &MsgPlan, s: usize, e: usize) -> Option<(Option<Occ>, Values)> {
        let mut r = Reader::new(self.buf, s, e);
        let mut key = None;
        let mut value = Values::None;
        let mut next = 1;
        while !r.at_end() {
            let (number, wt) = r.key().ok()?;
            if number < next || number > 2 {
                return None;
            }
            next = number + 1;
            let fi = number - 1;
            let f = &em.fields[fi as usize];
            let (wt, v, end) = read_value(&mut r, f, wt).ok()?;
            let o = Occ {
                field: fi,
                seq: 0,
                v,
                end,
                wt,
            };
            if fi == 0 {
                key = Some(o);
            } else {
                value = Values::One(o);
            }
        }
        Some((key, value))
    }

    /// A map entry of any shape: its fields pushed on `occ`.
    fn scan_entry(
        &mut self,
        em: &MsgPlan,
        s: usize,
        e: usize,
        ctx: u32,
    ) -> Result<(Option<Occ>, Values), WireError> {
        let from = self.occ.len();
        if !self.scan(em, Parts::One(s, e), ctx)? {
            self.occ[from..].sort_by_key(|o| o.field);
        }
        let to = self.occ.len();
        let keys_end = self.group_end(from, to, 0);
        // Earlier keys are read (checked), the last one counts.
        for q in from..keys_end.saturating_sub(1) {
            let o = self.occ[q];
            self.check_value(em.fields[0].kind, o, ctx)?;
        }
        let key = (keys_end > from).then(|| self.occ[keys_end - 1]);
        let value = match to - keys_end {
            0 => Values::None,
            1 => Values::One(self.occ[keys_end]),
            _ => Values::Occs(keys_end, to),
        };
        Ok((key, value))
    }

    /// Marks the entries (from `ebase`) whose key a later entry repeats.
    fn mark_superseded(&mut self, ebase: usize) {
        let n = self.entries.len() - ebase;
        let buf = self.buf;
        let same = |a: MapKey, b: MapKey| match (a, b) {
            (MapKey::Str(s1, e1), MapKey::Str(s2, e2)) => buf[s1..e1] == buf[s2..e2],
            (x, y) => x == y,
        };
        if n <= 16 {
            for x in ebase..self.entries.len() {
                let k = self.entries[x].key;
                if self.entries[x + 1..].iter().any(|e| same(e.key, k)) {
                    self.entries[x].superseded = true;
                }
            }
            return;
        }
        let mut order: Vec<usize> = (ebase..self.entries.len()).collect();
        let entries = &*self.entries;
        let sort_key = |x: &usize| match entries[*x].key {
            MapKey::Str(s, e) => (&buf[s..e], 0u64),
            MapKey::Int(v) => (&buf[0..0], v),
        };
        // Stable: entries of one key stay in wire order, the last one last.
        order.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
        let dups: Vec<usize> = order
            .windows(2)
            .filter(|w| same(entries[w[0]].key, entries[w[1]].key))
            .map(|w| w[0])
            .collect();
        for x in dups {
            self.entries[x].superseded = true;
        }
    }

    /// Checks occurrences that are not shown (prost still decodes them).
    fn check_occs(&mut self, f: &FieldPlan, i: usize, j: usize, ctx: u32) -> Result<(), WireError> {
        for k in i..j {
            let o = self.occ[k];
            if f.card == Card::Map {
                self.check_entry(f, o, ctx)?;
            } else {
                self.check_value(f.kind, o, ctx)?;
            }
        }
        Ok(())
    }

    fn check_entry(&mut self, f: &FieldPlan, o: Occ, ctx: u32) -> Result<(), WireError> {
        let Kind::Message(entry) = f.kind else {
            unreachable!("a map field's kind is its entry message")
        };
        self.check_message(entry, Parts::One(o.v as usize, o.end), ctx)
    }

    /// Checks one occurrence of a value of `kind` as prost would decode it.
    fn check_value(&mut self, kind: Kind, o: Occ, ctx: u32) -> Result<(), WireError> {
        match kind {
            Kind::String => {
                let (s, e) = o.range();
                std::str::from_utf8(&self.buf[s..e]).map_err(|_| WireError::InvalidUtf8)?;
            }
            Kind::Message(sub) => {
                if ctx == 0 {
                    return Err(WireError::RecursionLimit);
                }
                self.check_message(sub, Parts::One(o.v as usize, o.end), ctx - 1)?;
            }
            k if o.wt == LEN && k.packable() => {
                let (s, e) = o.range();
                let mut r = Reader::new(self.buf, s, e);
                while !r.at_end() {
                    read_raw(&mut r, k.wire_type())?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Reads a whole message (of fields budget `ctx`) without showing it.
    fn check_message(&mut self, msg: u32, parts: Parts, ctx: u32) -> Result<(), WireError> {
        let plans = self.plans;
        let m: &'p MsgPlan = &plans.msgs[msg as usize];
        let base = self.occ.len();
        let obase = self.oneof.len();
        self.scan(m, parts, ctx)?;
        for k in base..self.occ.len() {
            let o = self.occ[k];
            let f = &m.fields[o.field as usize];
            if f.card == Card::Map {
                self.check_entry(f, o, ctx)?;
            } else {
                self.check_value(f.kind, o, ctx)?;
            }
        }
        self.occ.truncate(base);
        self.oneof.truncate(obase);
        Ok(())
    }

    /// A well-known type: prost-reflect decodes and writes it, after this
    /// decoder has checked its nesting against the budget left here.
    #[cold]
    #[inline(never)]
    fn delegated(&mut self, msg: u32, parts: Parts, ctx: u32) -> Result<(), WireError> {
        let m = &self.plans.msgs[msg as usize];
        let ranges: Vec<(usize, usize)> = match parts {
            Parts::One(s, e) => vec![(s, e)],
            Parts::Occs { from, to, since } => self.occ[from..to]
                .iter()
                .filter(|o| o.seq >= since)
                .map(Occ::range)
                .collect(),
        };
        let len: usize = ranges.iter().map(|(s, e)| e - s).sum();
        // Each level of nesting takes 2 bytes at least: shorter bytes
        // cannot reach the limit.
        if len >= 2 * ctx as usize {
            self.check_message(msg, parts, ctx)?;
        }
        let mut dm = DynamicMessage::new(m.desc.clone());
        for (s, e) in ranges {
            if let Err(e) = dm.merge(&self.buf[s..e]) {
                *self.reference = Some(e.to_string());
                return Err(WireError::Reference);
            }
        }
        let mut ser = serde_json::Serializer::new(&mut *self.out);
        dm.serialize_with_options(&mut ser, &serialize_options(self.opts))
            .map_err(|e| {
                *self.reference = Some(e.to_string());
                WireError::Reference
            })
    }

    /// A map key, for comparing.
    fn map_key(&self, kind: Kind, o: &Occ) -> Result<MapKey, WireError> {
        Ok(match kind {
            Kind::String => {
                let (s, e) = o.range();
                std::str::from_utf8(&self.buf[s..e]).map_err(|_| WireError::InvalidUtf8)?;
                MapKey::Str(s, e)
            }
            Kind::Int32 | Kind::Uint32 | Kind::Fixed32 | Kind::Sfixed32 | Kind::Sint32 => {
                MapKey::Int(u64::from(o.v as u32))
            }
            Kind::Bool => MapKey::Int(u64::from(o.v != 0)),
            _ => MapKey::Int(o.v),
        })
    }

    /// A map key as a JSON object key (always a string).
    fn map_key_text(&mut self, kind: Kind, o: &Occ) {
        match kind {
            Kind::String => {
                let (s, e) = o.range();
                let text = std::str::from_utf8(&self.buf[s..e]).unwrap_or_default();
                write_str(self.out, text);
            }
            Kind::Bool => {
                self.out
                    .extend_from_slice(if o.v != 0 { b"\"true\"" } else { b"\"false\"" })
            }
            Kind::Int32 | Kind::Sfixed32 => {
                write_quoted_i64(self.out, i64::from(o.v as u32 as i32))
            }
            Kind::Sint32 => write_quoted_i64(self.out, i64::from(unzigzag32(o.v))),
            Kind::Uint32 | Kind::Fixed32 => write_quoted_u64(self.out, u64::from(o.v as u32)),
            Kind::Int64 | Kind::Sfixed64 => write_quoted_i64(self.out, o.v as i64),
            Kind::Sint64 => write_quoted_i64(self.out, unzigzag64(o.v)),
            _ => write_quoted_u64(self.out, o.v),
        }
    }

    fn default_map_key(&mut self, kind: Kind) {
        self.out.extend_from_slice(match kind {
            Kind::String => b"\"\"",
            Kind::Bool => b"\"false\"",
            _ => b"\"0\"",
        });
    }

    /// Writes one scalar occurrence (not packed).
    #[inline]
    fn scalar(&mut self, kind: Kind, o: Occ) -> Result<(), WireError> {
        match kind {
            Kind::String => {
                let (s, e) = o.range();
                let text =
                    std::str::from_utf8(&self.buf[s..e]).map_err(|_| WireError::InvalidUtf8)?;
                write_str(self.out, text);
            }
            Kind::Bytes => {
                let (s, e) = o.range();
                write_base64(self.out, &self.buf[s..e]);
            }
            k => self.number(k, o.v),
        }
        Ok(())
    }

    /// Writes a number (or bool, or enum) from its raw wire value.
    #[inline]
    fn number(&mut self, kind: Kind, raw: u64) {
        let out = &mut *self.out;
        match kind {
            Kind::Int32 => write_i64(out, i64::from(raw as i32)),
            Kind::Sint32 => write_i64(out, i64::from(unzigzag32(raw))),
            Kind::Sfixed32 => write_i64(out, i64::from(raw as u32 as i32)),
            Kind::Uint32 | Kind::Fixed32 => write_u64(out, u64::from(raw as u32)),
            Kind::Int64 | Kind::Sfixed64 => self.int64(raw as i64),
            Kind::Sint64 => self.int64(unzigzag64(raw)),
            Kind::Uint64 | Kind::Fixed64 => {
                if self.opts.int64_as_number {
                    write_u64(out, raw);
                } else {
                    write_quoted_u64(out, raw);
                }
            }
            Kind::Float => write_f32(out, f32::from_bits(raw as u32)),
            Kind::Double => write_f64(out, f64::from_bits(raw)),
            Kind::Bool => out.extend_from_slice(if raw != 0 { b"true" } else { b"false" }),
            Kind::Enum(e) => self.enum_value(e, raw as i32),
            Kind::String | Kind::Bytes | Kind::Message(_) => {
                unreachable!("not a number kind")
            }
        }
    }

    #[inline]
    fn int64(&mut self, v: i64) {
        if self.opts.int64_as_number {
            write_i64(self.out, v);
        } else {
            write_quoted_i64(self.out, v);
        }
    }

    #[inline]
    fn enum_value(&mut self, e: u32, v: i32) {
        if !self.opts.enum_as_number
            && let Some(name) = self.plans.enums[e as usize].json_name_of(v)
        {
            self.out.extend_from_slice(name);
        } else {
            write_i64(self.out, i64::from(v));
        }
    }

    /// An absent field without presence, with `emit_defaults`.
    fn default_field(&mut self, f: &FieldPlan, first: &mut bool) {
        self.key(f, first);
        match f.card {
            Card::List => self.out.extend_from_slice(b"[]"),
            Card::Map => self.out.extend_from_slice(b"{}"),
            Card::Single => self.default_value(f),
        }
    }

    /// The default value of a non-repeated field of a scalar kind.
    fn default_value(&mut self, f: &FieldPlan) {
        match f.kind {
            Kind::String | Kind::Bytes => self.out.extend_from_slice(b"\"\""),
            Kind::Enum(e) => self.enum_value(e, f.default_enum),
            Kind::Message(_) => self.out.extend_from_slice(b"{}"),
            k => self.number(k, 0),
        }
    }
}

/// Reads the value of an occurrence of `f` with wire type `wt`: (wire type,
/// varint or fixed-width value or start, end).
#[inline]
fn read_value(r: &mut Reader<'_>, f: &FieldPlan, wt: u8) -> Result<(u8, u64, usize), WireError> {
    let expected = f.kind.wire_type();
    // prost-reflect reads a map entry whatever the wire type says (as a
    // length and that many bytes): so does this.
    let wt = if f.card == Card::Map { LEN } else { wt };
    if wt != expected && !(wt == LEN && f.card == Card::List && f.kind.packable()) {
        return Err(WireError::WrongWireType);
    }
    Ok(match wt {
        VARINT => (wt, r.varint()?, 0),
        FIXED64 => (wt, r.fixed64()?, 0),
        FIXED32 => (wt, u64::from(r.fixed32()?), 0),
        _ => {
            let (s, e) = r.len_delimited()?;
            (wt, s as u64, e)
        }
    })
}

/// Reads one packed element of wire type `wt`.
#[inline]
fn read_raw(r: &mut Reader<'_>, wt: u8) -> Result<u64, WireError> {
    match wt {
        VARINT => r.varint(),
        FIXED32 => r.fixed32().map(u64::from),
        FIXED64 => r.fixed64(),
        _ => unreachable!("packed elements are scalars"),
    }
}

/// Whether the value of a field without presence is its default (then
/// prost-reflect does not show it).
#[inline]
fn is_default(f: &FieldPlan, o: &Occ) -> bool {
    match f.kind {
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 | Kind::Uint32 | Kind::Fixed32 => {
            o.v as u32 == 0
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => o.v == 0,
        Kind::Float => f32::from_bits(o.v as u32) == 0.0,
        Kind::Double => f64::from_bits(o.v) == 0.0,
        Kind::Bool => o.v == 0,
        Kind::Enum(_) => o.v as i32 == f.default_enum,
        Kind::String | Kind::Bytes => o.end as u64 == o.v,
        Kind::Message(_) => false,
    }
}
