//! Hostile values for every field of a request, from its message's descriptor: injection,
//! malformed names, extremes, and seeded random mixes.

use std::collections::HashMap;

use prost::bytes::BufMut;
use prost::encoding::{WireType, encode_key, encode_varint};
use prost_types::DescriptorProto;
use prost_types::field_descriptor_proto::{Label, Type};

/// How a request is made hostile.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Flavour {
    /// SQL and LIKE metacharacters, quotes, NUL and direction-override characters.
    Injection,
    /// Strings far beyond any field's limit.
    Oversized,
    /// The ends of every number type, undefined enum values, thousands of repeated entries.
    Extremes,
    /// Resource names and page tokens that are malformed, forged or another municipality's,
    /// impossible dates (13th month, 32nd day, year 0).
    Malformed,
    /// A seeded random mix of all the above.
    Random(u64),
}

pub(crate) const INJECTION: &[&str] = &[
    "'; DROP TABLE referral.grants; --",
    "\" OR 1=1 --",
    "%",
    "_\\",
    "$1",
    "x\0y",
    "\u{202e}ﬁ🙂\u{feff}",
    "'; SELECT pg_sleep(30); --",
];

pub(crate) const MALFORMED: &[&str] = &[
    "municipalities/101/grants/../../../etc/passwd",
    "municipalities/101/",
    "municipalities/0101/grants/x",
    "municipalities/-1/grants/x",
    "municipalities/329/grants/someone-elses",
    "municipalities/101/grants/a/b/c/d",
    "//",
    "municipalities/101/grants/%00",
    "eyJhZnRlciI6IngifQ",
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "not base64 !!",
    "",
];

pub(crate) struct Generator<'a> {
    pub(crate) messages: &'a HashMap<String, &'a DescriptorProto>,
    pub(crate) comments: &'a HashMap<(String, i32), String>,
    pub(crate) flavour: Flavour,
    /// Off: plausible values (so validation passes the other fields); on: the flavour's.
    pub(crate) hostile: bool,
    pub(crate) state: u64,
    pub(crate) counter: usize,
}

/// The resource name a field's comment documents (`municipalities/{municipality}/grants/{grant}`),
/// made concrete in the caller's municipality.
pub(crate) fn documented_name(comment: &str) -> Option<String> {
    let template = comment
        .split('`')
        .skip(1)
        .step_by(2)
        .find(|part| part.contains('/') || part.starts_with("municipalities"))?;
    let mut name = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        name.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
        name.push_str(match &rest[open + 1..close] {
            "municipality" => "101",
            "year" => "2026",
            "unit" => "101",
            _ => "x1",
        });
        rest = rest.get(close + 1..).unwrap_or("");
    }
    name.push_str(rest);
    Some(name)
}

impl Generator<'_> {
    pub(crate) fn next_random(&mut self) -> u64 {
        // xorshift64*: deterministic for a seed, so a failure can be replayed.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn pick<'s>(&mut self, from: &[&'s str]) -> &'s str {
        self.counter += 1;
        from[self.counter % from.len()]
    }

    pub(crate) fn plausible_string(
        &mut self,
        message: &str,
        field: &prost_types::FieldDescriptorProto,
    ) -> String {
        if let Some(name) = self
            .comments
            .get(&(message.to_owned(), field.number()))
            .and_then(|c| documented_name(c))
        {
            return name;
        }
        self.counter += 1;
        match field.name() {
            "request_id" => format!("hostile-{}-{}", self.state, self.counter),
            "etag" | "page_token" | "filter" | "order_by" => String::new(),
            "cpr" => "010114-4234".into(),
            "cvr" => "12345674".into(),
            "parent" => "municipalities/101".into(),
            _ => "plausible text".into(),
        }
    }

    pub(crate) fn plausible_integer(field: &str) -> i64 {
        match field {
            "year" => 2026,
            "month" => 12,
            "day" => 1,
            "seconds" => 1_800_000_000,
            "nanos" => 0,
            "page_size" => 10,
            _ => 60,
        }
    }

    pub(crate) fn string(&mut self) -> String {
        match self.flavour {
            Flavour::Injection => self.pick(INJECTION).to_owned(),
            Flavour::Oversized => "x".repeat(20_000),
            Flavour::Extremes => String::new(),
            Flavour::Malformed => self.pick(MALFORMED).to_owned(),
            Flavour::Random(_) => match self.next_random() % 5 {
                0 => INJECTION[(self.next_random() % INJECTION.len() as u64) as usize].to_owned(),
                1 => MALFORMED[(self.next_random() % MALFORMED.len() as u64) as usize].to_owned(),
                2 => "é".repeat((self.next_random() % 3_000) as usize),
                3 => format!("municipalities/101/grants/{}", self.next_random()),
                _ => (0..self.next_random() % 40)
                    .map(|_| char::from_u32((self.next_random() % 0x3000) as u32).unwrap_or('?'))
                    .collect(),
            },
        }
    }

    pub(crate) fn integer(&mut self, field: &str) -> i64 {
        if !self.hostile {
            return Self::plausible_integer(field);
        }
        match self.flavour {
            Flavour::Injection => -1,
            Flavour::Oversized => i64::from(i32::MAX),
            Flavour::Extremes => {
                let ends = [i64::MIN, i64::MAX, i64::from(i32::MIN), -1];
                self.counter += 1;
                ends[self.counter % ends.len()]
            }
            Flavour::Malformed => match field {
                "year" => 0,
                "month" => 13,
                "day" => 32,
                _ => -5,
            },
            Flavour::Random(_) => {
                let small = [0, 1, -1, 2, 29, 30, 31, 60, 1_440, 10_080, 100_000];
                match self.next_random() % 3 {
                    0 => self.next_random() as i64,
                    1 => small[(self.next_random() % small.len() as u64) as usize],
                    _ => -((self.next_random() % 1_000) as i64),
                }
            }
        }
    }

    pub(crate) fn repeats(&mut self, nested: bool) -> usize {
        match self.flavour {
            Flavour::Extremes if nested => 200,
            Flavour::Extremes => 5_000,
            Flavour::Random(_) => (self.next_random() % if nested { 4 } else { 50 }) as usize,
            _ => 2,
        }
    }

    /// The encoded message `type_name` (fully qualified, with the leading dot): plausible
    /// values, except the field at index `hostile_field` (all of them: `None` while
    /// `self.hostile` is set), which gets the flavour's.
    pub(crate) fn message(
        &mut self,
        type_name: &str,
        depth: usize,
        hostile_field: Option<usize>,
        out: &mut Vec<u8>,
    ) {
        let Some(message) = self.messages.get(type_name) else {
            return;
        };
        if depth > 4 {
            return;
        }
        let inherited = self.hostile;
        for (index, field) in message.field.iter().enumerate() {
            self.hostile = inherited || hostile_field == Some(index);
            let number = field.number() as u32;
            let is_message = field.r#type() == Type::Message;
            let count = match (field.label() == Label::Repeated, self.hostile) {
                (true, true) => self.repeats(is_message),
                _ => 1,
            };
            for _ in 0..count {
                self.value(type_name, field, number, depth, out);
            }
        }
        self.hostile = inherited;
    }

    pub(crate) fn value(
        &mut self,
        message: &str,
        field: &prost_types::FieldDescriptorProto,
        number: u32,
        depth: usize,
        out: &mut Vec<u8>,
    ) {
        match field.r#type() {
            Type::String | Type::Bytes => {
                let text = if self.hostile {
                    self.string()
                } else {
                    self.plausible_string(message, field)
                };
                encode_key(number, WireType::LengthDelimited, out);
                encode_varint(text.len() as u64, out);
                out.put_slice(text.as_bytes());
            }
            Type::Message | Type::Group => {
                let mut inner = Vec::new();
                self.message(field.type_name(), depth + 1, None, &mut inner);
                encode_key(number, WireType::LengthDelimited, out);
                encode_varint(inner.len() as u64, out);
                out.put_slice(&inner);
            }
            Type::Enum | Type::Bool if !self.hostile => {
                encode_key(number, WireType::Varint, out);
                encode_varint(1, out);
            }
            Type::Bool => {
                encode_key(number, WireType::Varint, out);
                encode_varint(1, out);
            }
            Type::Enum => {
                // An undefined value, negative or far beyond the enum's last.
                let value = match self.flavour {
                    Flavour::Random(_) => (self.next_random() % 12) as i64 - 2,
                    _ => [-1_i64, 9_999][self.counter % 2],
                };
                self.counter += 1;
                encode_key(number, WireType::Varint, out);
                encode_varint(value as u64, out);
            }
            Type::Int32 | Type::Int64 | Type::Uint32 | Type::Uint64 => {
                let mut value = self.integer(field.name());
                if matches!(field.r#type(), Type::Int32 | Type::Uint32) {
                    // What a 32-bit field can carry; a wider varint is truncated by the decoder.
                    value = i64::from(value as i32);
                }
                encode_key(number, WireType::Varint, out);
                encode_varint(value as u64, out);
            }
            Type::Sint32 | Type::Sint64 => {
                let value = self.integer(field.name());
                encode_key(number, WireType::Varint, out);
                encode_varint(((value << 1) ^ (value >> 63)) as u64, out);
            }
            Type::Fixed32 | Type::Sfixed32 | Type::Float => {
                let bits = match field.r#type() {
                    Type::Float if self.hostile => f32::NAN.to_bits(),
                    Type::Float => 1.5_f32.to_bits(),
                    _ => self.integer(field.name()) as u32,
                };
                encode_key(number, WireType::ThirtyTwoBit, out);
                out.put_u32_le(bits);
            }
            Type::Fixed64 | Type::Sfixed64 | Type::Double => {
                let bits = match field.r#type() {
                    Type::Double if self.hostile => f64::INFINITY.to_bits(),
                    Type::Double => 1.5_f64.to_bits(),
                    _ => self.integer(field.name()) as u64,
                };
                encode_key(number, WireType::SixtyFourBit, out);
                out.put_u64_le(bits);
            }
        }
    }
}
