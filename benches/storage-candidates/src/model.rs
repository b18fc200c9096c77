//! The workload: transactions with their spans, generated deterministically,
//! an explicit byte schema for them, and the per-second pre-aggregation every
//! candidate stores at ingest.

/// First second of the generated week (2026-05-28 UTC).
pub const WEEK_START_S: u64 = 1_780_000_000;
/// Seconds in the generated period.
pub const WEEK_S: u64 = 7 * 24 * 3600;

/// Upper bounds (ms) of the response-time histogram, as in the server.
pub const HIST_BOUNDS_MS: [u64; 14] = [
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 30_000,
];
/// Histogram buckets (bounds plus overflow).
pub const HIST_N: usize = HIST_BOUNDS_MS.len() + 1;

/// Services, instances per service, endpoints per service, users, client IPs.
pub const SERVICES: u32 = 6;
/// Instances of each service.
pub const INSTANCES_PER_SERVICE: u32 = 4;
/// Endpoints of each service.
pub const ENDPOINTS_PER_SERVICE: u32 = 40;
/// Distinct users.
pub const USERS: u32 = 20_000;
/// Distinct client IPs.
pub const CLIENT_IPS: u32 = 50_000;

/// A transaction's summary: one XLog dot.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Ingest sequence number (unique, ascending with end time).
    pub seq: u64,
    /// Trace id.
    pub trace_id: [u8; 16],
    /// Root span id (the transaction id).
    pub span_id: [u8; 8],
    /// Service (index into [`service_name`]).
    pub service: u32,
    /// Instance (global index).
    pub instance: u32,
    /// Endpoint (global index).
    pub endpoint: u32,
    /// End, UNIX µs.
    pub end_us: u64,
    /// Elapsed µs.
    pub elapsed_us: u32,
    /// Failed.
    pub error: bool,
    /// HTTP status.
    pub status: u16,
    /// Client IPv4.
    pub client_ip: u32,
    /// User index + 1, 0 for none.
    pub user: u32,
    /// Thread id.
    pub thread: u32,
    /// SQL statements and their total µs.
    pub sql_count: u32,
    /// Total SQL µs.
    pub sql_us: u32,
    /// Outgoing calls and their total µs.
    pub call_count: u32,
    /// Total call µs.
    pub call_us: u32,
    /// CPU µs.
    pub cpu_us: u32,
}

/// One span of a transaction.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    /// Span id.
    pub span_id: [u8; 8],
    /// Index of the parent within the transaction, `u8::MAX` for the root.
    pub parent: u8,
    /// Name.
    pub name: String,
    /// OTLP kind (1 internal, 2 server, 3 client).
    pub kind: u8,
    /// Start offset from the transaction start, µs.
    pub start_off_us: u32,
    /// Duration µs.
    pub dur_us: u32,
    /// Status error.
    pub error: bool,
    /// Attributes.
    pub attrs: Vec<(String, String)>,
}

/// A transaction with its tree.
#[derive(Clone, Debug, PartialEq)]
pub struct Txn {
    /// Summary.
    pub s: Summary,
    /// Spans, root first.
    pub spans: Vec<Span>,
}

/// Service name.
pub fn service_name(i: u32) -> &'static str {
    [
        "order-api",
        "payment",
        "catalog",
        "user-svc",
        "gateway",
        "inventory",
    ][i as usize % 6]
}

const VERBS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];
const NOUNS: [&str; 10] = [
    "orders", "items", "carts", "users", "payments", "stock", "prices", "sessions", "reports",
    "search",
];
const TABLES: [&str; 12] = [
    "orders",
    "order_items",
    "customers",
    "payments",
    "products",
    "stock_levels",
    "prices",
    "sessions",
    "addresses",
    "invoices",
    "shipments",
    "audit_log",
];

/// Endpoint name of a global endpoint index.
pub fn endpoint_name(e: u32) -> String {
    let local = e % ENDPOINTS_PER_SERVICE;
    format!(
        "{} /api/v{}/{}/{{id}}{}",
        VERBS[(local % 4) as usize],
        1 + local / 20,
        NOUNS[(local / 4 % 10) as usize],
        if local.is_multiple_of(3) {
            "/details"
        } else {
            ""
        }
    )
}

/// SplitMix64: a deterministic stream of 64-bit values.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// Next value.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        (((self.next() >> 11) as u128 * n as u128) >> 53) as u64
    }
    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.unit().max(1e-12);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// The SplitMix64 finaliser.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Whether transaction `k` continues the trace of transaction `k - 1` (a
/// downstream service called by it): about 30 % of them.
pub fn continues_trace(k: u64) -> bool {
    k > 0 && mix(k ^ 0xC0FFEE) % 10 < 3
}

/// The trace id of transaction `k` (shared with `k - 1` when it continues it).
pub fn trace_id_of(mut k: u64) -> [u8; 16] {
    while continues_trace(k) {
        k -= 1;
    }
    let mut t = [0u8; 16];
    t[..8].copy_from_slice(&mix(k ^ 0x7A7A).to_le_bytes());
    t[8..].copy_from_slice(&mix(k ^ 0x5B5B_0000).to_le_bytes());
    t
}

/// How many transactions share the trace of transaction `k`.
pub fn trace_len(k: u64, total: u64) -> usize {
    let mut first = k;
    while continues_trace(first) {
        first -= 1;
    }
    let mut n = 1;
    while first + n < total && continues_trace(first + n) {
        n += 1;
    }
    n as usize
}

/// Generates `total` transactions over one week, in end-time order, with a
/// daily load curve (peak ≈ 1.7× the mean at 14:00, trough ≈ 0.3× at 02:00).
pub struct Generator {
    total: u64,
    next: u64,
    cum: Vec<f64>,
    rng: Rng,
}

impl Generator {
    /// A generator of `total` transactions.
    pub fn new(total: u64) -> Self {
        let mut cum = vec![0.0];
        for h in 0..(WEEK_S / 3600) {
            let w = 1.0
                + 0.7
                    * ((h % 24) as f64 - 8.0)
                        .mul_add(std::f64::consts::TAU / 24.0, 0.0)
                        .sin();
            cum.push(cum.last().unwrap() + w);
        }
        Self {
            total,
            next: 0,
            cum,
            rng: Rng(42),
        }
    }

    /// End time (µs) of transaction `k`: pure function, so queries can
    /// compute windows without reading the data.
    pub fn end_us_of(&self, k: u64) -> u64 {
        let target = (k as f64 + 0.5) / self.total as f64 * self.cum.last().unwrap();
        let h = self.cum.partition_point(|&c| c <= target).saturating_sub(1);
        let frac = (target - self.cum[h]) / (self.cum[h + 1] - self.cum[h]);
        (WEEK_START_S + h as u64 * 3600) * 1_000_000 + (frac * 3.6e9) as u64
    }

    /// The number of transactions whose end is before `us`.
    pub fn count_before(&self, us: u64) -> u64 {
        let (mut lo, mut hi) = (0, self.total);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.end_us_of(mid) < us {
                lo = mid + 1
            } else {
                hi = mid
            }
        }
        lo
    }

    /// The next transaction, `None` after the last.
    pub fn next_txn(&mut self) -> Option<Txn> {
        if self.next >= self.total {
            return None;
        }
        let k = self.next;
        self.next += 1;
        let end_us = self.end_us_of(k);
        let r = &mut self.rng;
        let service = r.below(SERVICES as u64) as u32;
        // Zipf-ish endpoint popularity: a few endpoints take most traffic.
        let local_ep = ((r.unit().powi(3)) * ENDPOINTS_PER_SERVICE as f64) as u32;
        let endpoint = service * ENDPOINTS_PER_SERVICE + local_ep;
        let instance =
            service * INSTANCES_PER_SERVICE + r.below(INSTANCES_PER_SERVICE as u64) as u32;
        let base_ms = 5.0 + (mix(endpoint as u64) % 120) as f64;
        let mut elapsed_ms = base_ms * (0.8 * r.normal()).exp();
        if r.below(1000) < 3 {
            elapsed_ms *= 20.0 + r.unit() * 80.0; // the slow tail
        }
        let elapsed_us = (elapsed_ms * 1000.0).clamp(50.0, 120e6) as u32;
        let error = r.below(100) == 0;
        let status = if error {
            500
        } else if r.below(50) == 0 {
            404
        } else {
            200
        };
        let client_ip = 0x0A00_0000 | (mix(r.below(CLIENT_IPS as u64)) as u32 & 0x00FF_FFFF);
        let user = if r.below(4) == 0 {
            0
        } else {
            1 + r.below(USERS as u64) as u32
        };
        let thread = 100 + r.below(200) as u32;
        let trace_id = trace_id_of(k);

        let n_spans = 4 + r.below(13) as usize; // 4..=16, mean 10
        let mut spans = Vec::with_capacity(n_spans);
        let span_id = |i: usize| mix(k << 5 | i as u64).to_le_bytes();
        let ep_name = endpoint_name(endpoint);
        let mut root_attrs = vec![
            (
                "http.request.method".to_string(),
                VERBS[(local_ep % 4) as usize].to_string(),
            ),
            ("http.route".to_string(), ep_name.clone()),
            ("http.response.status_code".to_string(), status.to_string()),
            ("client.address".to_string(), ip_text(client_ip)),
            ("thread.id".to_string(), thread.to_string()),
        ];
        if user != 0 {
            root_attrs.push(("enduser.id".to_string(), format!("user-{user:05}")));
        }
        spans.push(Span {
            span_id: span_id(0),
            parent: u8::MAX,
            name: ep_name,
            kind: 2,
            start_off_us: 0,
            dur_us: elapsed_us,
            error,
            attrs: root_attrs,
        });
        let (mut sql_count, mut sql_us, mut call_count, mut call_us) = (0, 0, 0, 0);
        for i in 1..n_spans {
            let off = (elapsed_us as u64 * i as u64 / n_spans as u64) as u32;
            let dur = ((elapsed_us / n_spans as u32) as f64 * r.unit()) as u32 + 1;
            let pick = r.below(10);
            let parent = if i > 2 && pick.is_multiple_of(3) {
                1
            } else {
                0
            };
            let (name, kind, attrs) = if pick < 5 {
                sql_count += 1;
                sql_us += dur;
                let t = TABLES[r.below(TABLES.len() as u64) as usize];
                let t2 = TABLES[r.below(TABLES.len() as u64) as usize];
                let sql = match r.below(4) {
                    0 => format!(
                        "SELECT id, status, created_at, updated_at, customer_id, total FROM {t} WHERE id = ?"
                    ),
                    1 => format!(
                        "SELECT a.id, a.name, b.qty FROM {t} a JOIN {t2} b ON b.{t}_id = a.id WHERE a.customer_id = ? ORDER BY a.created_at DESC LIMIT 50"
                    ),
                    2 => format!(
                        "UPDATE {t} SET status = ?, updated_at = ? WHERE id = {}",
                        r.below(1_000_000)
                    ),
                    _ => {
                        format!("INSERT INTO {t} (id, ref, amount, created_at) VALUES (?, ?, ?, ?)")
                    }
                };
                (
                    format!("{} {t}", sql.split(' ').next().unwrap()),
                    3,
                    vec![
                        ("db.system".to_string(), "postgresql".to_string()),
                        ("db.query.text".to_string(), sql),
                    ],
                )
            } else if pick < 7 {
                call_count += 1;
                call_us += dur;
                let target = service_name(r.below(SERVICES as u64) as u32);
                (
                    format!("GET {target}"),
                    3,
                    vec![
                        ("http.request.method".to_string(), "GET".to_string()),
                        (
                            "url.full".to_string(),
                            format!(
                                "http://{target}:8080/api/v1/{}/{}",
                                NOUNS[r.below(10) as usize],
                                r.below(100_000)
                            ),
                        ),
                        ("http.response.status_code".to_string(), "200".to_string()),
                    ],
                )
            } else {
                (
                    format!(
                        "{}Service.{}",
                        NOUNS[r.below(10) as usize],
                        ["find", "load", "validate", "apply", "render"][r.below(5) as usize]
                    ),
                    1,
                    vec![],
                )
            };
            spans.push(Span {
                span_id: span_id(i),
                parent,
                name,
                kind,
                start_off_us: off,
                dur_us: dur,
                error: false,
                attrs,
            });
        }
        let cpu_us = elapsed_us / 3;
        Some(Txn {
            s: Summary {
                seq: k,
                trace_id,
                span_id: spans[0].span_id,
                service,
                instance,
                endpoint,
                end_us,
                elapsed_us,
                error,
                status,
                client_ip,
                user,
                thread,
                sql_count,
                sql_us,
                call_count,
                call_us,
                cpu_us,
            },
            spans,
        })
    }
}

/// Dotted text of an IPv4.
pub fn ip_text(ip: u32) -> String {
    let b = ip.to_be_bytes();
    format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
}

// ---------------------------------------------------------------- encoding

/// Appends to a byte vector with LEB128 varints.
pub fn put_var(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-prefixed byte string.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_var(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Reads what `put_*` wrote.
pub struct Dec<'a> {
    b: &'a [u8],
    p: usize,
}

/// A decoding error (truncated or malformed input).
#[derive(Debug)]
pub struct Malformed;

impl<'a> Dec<'a> {
    /// A decoder over `b`.
    pub fn new(b: &'a [u8]) -> Self {
        Self { b, p: 0 }
    }
    /// A varint.
    pub fn var(&mut self) -> Result<u64, Malformed> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.b.get(self.p).ok_or(Malformed)?;
            self.p += 1;
            v |= u64::from(byte & 0x7F) << shift;
            if byte < 0x80 {
                return Ok(v);
            }
        }
        Err(Malformed)
    }
    /// `n` raw bytes.
    pub fn raw(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        let s = self.b.get(self.p..self.p + n).ok_or(Malformed)?;
        self.p += n;
        Ok(s)
    }
    /// A length-prefixed byte string.
    pub fn bytes(&mut self) -> Result<&'a [u8], Malformed> {
        let n = self.var()? as usize;
        self.raw(n)
    }
    /// A length-prefixed UTF-8 string.
    pub fn string(&mut self) -> Result<String, Malformed> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| Malformed)
    }
}

/// Version 1 of the summary schema: fields in a fixed order, varints.
pub fn encode_summary(s: &Summary, out: &mut Vec<u8>) {
    put_var(out, s.seq);
    out.extend_from_slice(&s.trace_id);
    out.extend_from_slice(&s.span_id);
    for v in [
        s.service as u64,
        s.instance as u64,
        s.endpoint as u64,
        s.end_us,
        s.elapsed_us as u64,
        s.error as u64,
        s.status as u64,
        s.client_ip as u64,
        s.user as u64,
        s.thread as u64,
        s.sql_count as u64,
        s.sql_us as u64,
        s.call_count as u64,
        s.call_us as u64,
        s.cpu_us as u64,
    ] {
        put_var(out, v);
    }
}

/// Reads what [`encode_summary`] wrote.
pub fn decode_summary(d: &mut Dec<'_>) -> Result<Summary, Malformed> {
    let seq = d.var()?;
    let trace_id = d.raw(16)?.try_into().unwrap();
    let span_id = d.raw(8)?.try_into().unwrap();
    let mut v = [0u64; 15];
    for x in &mut v {
        *x = d.var()?;
    }
    Ok(Summary {
        seq,
        trace_id,
        span_id,
        service: v[0] as u32,
        instance: v[1] as u32,
        endpoint: v[2] as u32,
        end_us: v[3],
        elapsed_us: v[4] as u32,
        error: v[5] != 0,
        status: v[6] as u16,
        client_ip: v[7] as u32,
        user: v[8] as u32,
        thread: v[9] as u32,
        sql_count: v[10] as u32,
        sql_us: v[11] as u32,
        call_count: v[12] as u32,
        call_us: v[13] as u32,
        cpu_us: v[14] as u32,
    })
}

/// Version 1 of the span-list schema.
pub fn encode_spans(spans: &[Span], out: &mut Vec<u8>) {
    put_var(out, spans.len() as u64);
    for s in spans {
        out.extend_from_slice(&s.span_id);
        out.push(s.parent);
        put_bytes(out, s.name.as_bytes());
        out.push(s.kind);
        put_var(out, s.start_off_us as u64);
        put_var(out, s.dur_us as u64);
        out.push(s.error as u8);
        put_var(out, s.attrs.len() as u64);
        for (k, v) in &s.attrs {
            put_bytes(out, k.as_bytes());
            put_bytes(out, v.as_bytes());
        }
    }
}

/// Reads what [`encode_spans`] wrote.
pub fn decode_spans(d: &mut Dec<'_>) -> Result<Vec<Span>, Malformed> {
    let n = d.var()? as usize;
    let mut out = Vec::with_capacity(n.min(4096));
    for _ in 0..n {
        let span_id = d.raw(8)?.try_into().unwrap();
        let parent = d.raw(1)?[0];
        let name = d.string()?;
        let kind = d.raw(1)?[0];
        let start_off_us = d.var()? as u32;
        let dur_us = d.var()? as u32;
        let error = d.raw(1)?[0] != 0;
        let na = d.var()? as usize;
        let mut attrs = Vec::with_capacity(na.min(64));
        for _ in 0..na {
            attrs.push((d.string()?, d.string()?));
        }
        out.push(Span {
            span_id,
            parent,
            name,
            kind,
            start_off_us,
            dur_us,
            error,
            attrs,
        });
    }
    Ok(out)
}

/// A whole transaction (summary then spans).
pub fn encode_txn(t: &Txn, out: &mut Vec<u8>) {
    encode_summary(&t.s, out);
    encode_spans(&t.spans, out);
}

// ------------------------------------------------------------ aggregation

/// The pre-aggregated statistics of one (second, service).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AggRow {
    /// UNIX second of the end.
    pub sec: u64,
    /// Service.
    pub service: u32,
    /// Transactions.
    pub count: u32,
    /// Failed ones.
    pub errors: u32,
    /// Sum of elapsed µs.
    pub sum_us: u64,
    /// Largest elapsed µs.
    pub max_us: u32,
    /// Response-time histogram.
    pub hist: [u32; HIST_N],
}

impl AggRow {
    fn add(&mut self, s: &Summary) {
        self.count += 1;
        self.errors += s.error as u32;
        self.sum_us += s.elapsed_us as u64;
        self.max_us = self.max_us.max(s.elapsed_us);
        let ms = (s.elapsed_us as u64).div_ceil(1000);
        let b = HIST_BOUNDS_MS
            .iter()
            .position(|&x| ms <= x)
            .unwrap_or(HIST_BOUNDS_MS.len());
        self.hist[b] += 1;
    }

    /// Merges `o` (same second) into `self`.
    pub fn merge(&mut self, o: &AggRow) {
        self.count += o.count;
        self.errors += o.errors;
        self.sum_us += o.sum_us;
        self.max_us = self.max_us.max(o.max_us);
        for (a, b) in self.hist.iter_mut().zip(o.hist.iter()) {
            *a += b;
        }
    }

    /// A fixed 84-byte little-endian form.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.sec.to_le_bytes());
        out.extend_from_slice(&self.service.to_le_bytes());
        out.extend_from_slice(&self.count.to_le_bytes());
        out.extend_from_slice(&self.errors.to_le_bytes());
        out.extend_from_slice(&self.sum_us.to_le_bytes());
        out.extend_from_slice(&self.max_us.to_le_bytes());
        for h in self.hist {
            out.extend_from_slice(&h.to_le_bytes());
        }
    }

    /// Reads what [`AggRow::encode`] wrote.
    pub fn decode(b: &[u8]) -> AggRow {
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
        let mut hist = [0; HIST_N];
        for (j, h) in hist.iter_mut().enumerate() {
            *h = u32_at(32 + 4 * j);
        }
        AggRow {
            sec: u64::from_le_bytes(b[0..8].try_into().unwrap()),
            service: u32_at(8),
            count: u32_at(12),
            errors: u32_at(16),
            sum_us: u64::from_le_bytes(b[20..28].try_into().unwrap()),
            max_us: u32_at(28),
            hist,
        }
    }
}

/// Encoded size of an [`AggRow`].
pub const AGG_BYTES: usize = 32 + 4 * HIST_N;

/// Builds per-(second, service) rows as transactions arrive in end order;
/// a second is emitted once a later second has been seen (late arrivals of
/// an emitted second become a second row for it, merged on read).
#[derive(Default)]
pub struct AggBuilder {
    open_sec: u64,
    open: Vec<AggRow>,
}

impl AggBuilder {
    /// Adds a transaction; returns the rows of seconds that closed.
    pub fn add(&mut self, s: &Summary, closed: &mut Vec<AggRow>) {
        let sec = s.end_us / 1_000_000;
        if sec != self.open_sec {
            self.flush(closed);
            self.open_sec = sec;
        }
        let row = match self.open.iter_mut().find(|r| r.service == s.service) {
            Some(r) => r,
            None => {
                self.open.push(AggRow {
                    sec,
                    service: s.service,
                    ..AggRow::default()
                });
                self.open.last_mut().unwrap()
            }
        };
        row.add(s);
    }

    /// Emits the open second.
    pub fn flush(&mut self, closed: &mut Vec<AggRow>) {
        closed.append(&mut self.open);
    }
}

/// Sums rows per second over `[from_s, to_s)`: the TPS / error / histogram
/// chart. Returns (seconds with data, total count) as a checksum.
pub fn per_second(rows: impl IntoIterator<Item = AggRow>, from_s: u64, to_s: u64) -> (usize, u64) {
    let mut secs = vec![AggRow::default(); (to_s - from_s) as usize];
    for r in rows {
        if r.sec >= from_s && r.sec < to_s {
            secs[(r.sec - from_s) as usize].merge(&r);
        }
    }
    let with = secs.iter().filter(|r| r.count > 0).count();
    (with, secs.iter().map(|r| r.count as u64).sum())
}

/// A filter for the first-page query.
#[derive(Clone, Copy, Debug)]
pub enum Filter {
    /// Errors of one endpoint.
    ErrorsOf(u32),
    /// Elapsed above this many µs.
    SlowerThan(u32),
    /// One client IP.
    ClientIp(u32),
}

impl Filter {
    /// Does `s` match?
    pub fn accepts(&self, s: &Summary) -> bool {
        match *self {
            Filter::ErrorsOf(e) => s.error && s.endpoint == e,
            Filter::SlowerThan(us) => s.elapsed_us > us,
            Filter::ClientIp(ip) => s.client_ip == ip,
        }
    }
    /// Short label.
    pub fn label(&self) -> &'static str {
        match self {
            Filter::ErrorsOf(_) => "errors of one endpoint",
            Filter::SlowerThan(_) => "elapsed > 5 s",
            Filter::ClientIp(_) => "one client IP",
        }
    }
}
