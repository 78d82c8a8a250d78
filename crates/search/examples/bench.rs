//! Indexes N synthetic messages into an encrypted index and times a fixed
//! query mix.
//!
//! ```text
//! cargo run --release -p sealpost-search --example bench -- 100000 [DIR]
//! ```
//!
//! Prints index time, docs/s, p50/p95/p99 query latency and index bytes per
//! document. Messages are deterministic: a Zipf-like vocabulary, bodies from
//! 20 to 3,000 words, 500 senders on 60 domains, three years of dates, some
//! attachments, marketing mail and PHI-like strings.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sealpost_search::{ArchiveIndex, IndexDoc, IndexOptions, query};

/// splitmix64: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Skewed towards small values: roughly Zipf over `n`.
    fn zipf(&mut self, n: u64) -> u64 {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((n as f64).powf(u) - 1.0) as u64 % n
    }
}

const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "bo", "da", "fe", "gi", "ho", "ju", "pa", "qui", "re", "su",
    "ti", "an", "el", "is", "or", "um",
];

fn vocabulary(rng: &mut Rng, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let len = 2 + (i % 3);
            (0..len).map(|_| SYLLABLES[rng.below(SYLLABLES.len() as u64) as usize]).collect::<String>()
                + &format!("{}", i % 7)
        })
        .collect()
}

fn document(rng: &mut Rng, n: u64, words: &[String], start: i64) -> IndexDoc {
    let domain = |rng: &mut Rng| format!("d{}.example", rng.below(60));
    let person = |rng: &mut Rng| {
        let p = rng.zipf(500);
        format!(
            "{} {} <user{p}@{}>",
            words[p as usize % 200],
            words[(p as usize * 7) % 300],
            format_args!("d{}.example", p % 60)
        )
    };
    let body_words = match rng.below(10) {
        0..=5 => 20 + rng.below(200),
        6..=8 => 200 + rng.below(800),
        _ => 1000 + rng.below(2000),
    };
    let mut body = String::with_capacity(body_words as usize * 7);
    for _ in 0..body_words {
        body.push_str(&words[rng.zipf(words.len() as u64) as usize]);
        body.push(' ');
    }
    let mut phi = Vec::new();
    let mut patients = Vec::new();
    if rng.below(5) == 0 {
        body.push_str(&format!("SSN {:03}-{:02}-{:04} ", rng.below(900), rng.below(100), rng.below(10_000)));
        phi.push("ssn".to_owned());
    }
    if rng.below(4) == 0 {
        let mrn = format!("MRN{:07}", rng.below(10_000_000));
        body.push_str(&mrn);
        phi.push("mrn".to_owned());
        patients.push(mrn);
    }
    let has_attachment = rng.below(5) == 0;
    let subject_len = 2 + rng.below(6);
    let subject: Vec<&str> = (0..subject_len).map(|_| words[rng.zipf(2000) as usize].as_str()).collect();
    IndexDoc {
        id: format!("{:016x}{:016x}", n, rng.next()),
        date: start + rng.below(3 * 365 * 86_400) as i64 * 1_000_000,
        from: vec![person(rng)],
        to: (0..1 + rng.below(3)).map(|_| format!("user{}@{}", rng.below(5000), domain(rng))).collect(),
        cc: if rng.below(4) == 0 { vec![person(rng)] } else { Vec::new() },
        subject: subject.join(" "),
        body,
        filenames: if has_attachment { vec![format!("{}.pdf", words[rng.below(500) as usize])] } else { Vec::new() },
        has_attachment,
        category: if rng.below(7) == 0 { "marketing".into() } else { "transactional".into() },
        phi,
        patients,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(100_000);
    let dir = args.next().map(PathBuf::from);
    let temp = tempfile::tempdir()?;
    let dir = dir.unwrap_or_else(|| temp.path().join("index"));

    let mut rng = Rng(42);
    let words = vocabulary(&mut rng, 50_000);
    let start = 1_640_995_200_000_000; // 2022-01-01
    let options = IndexOptions { writer_threads: 2, writer_memory_bytes: 512 << 20, ..IndexOptions::default() };
    let index = ArchiveIndex::open_with(&dir, [7; 32], options)?;

    let began = Instant::now();
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..n {
        batch.push(document(&mut rng, i, &words, start));
        if batch.len() == 10_000 || i + 1 == n {
            index.add(&batch)?;
            batch.clear();
        }
        if (i + 1) % 250_000 == 0 {
            index.commit()?;
        }
    }
    index.commit()?;
    let index_time = began.elapsed();
    let bytes: u64 = std::fs::read_dir(&dir)?.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum();

    let queries = [
        words[3].clone(),
        words[40].clone(),
        words[2000].clone(),
        format!("{} {}", words[5], words[9]),
        format!("\"{} {}\"", words[1], words[2]),
        format!("{} OR {}", words[300], words[301]),
        "from:user3@d3.example".to_owned(),
        "from:d7.example".to_owned(),
        format!("from:{}", words[10]),
        "to:user17".to_owned(),
        "has:attachment after:2023-06-01".to_owned(),
        "before:2022-03-01".to_owned(),
        "category:marketing -has:attachment".to_owned(),
        "phi:ssn".to_owned(),
        "phi:any from:d1.example".to_owned(),
        "patient:MRN0001234".to_owned(),
        format!("subject:{} -category:marketing", words[7]),
        format!("filename:{}", words[20]),
        format!("({} OR {}) AND NOT {}", words[11], words[12], words[13]),
        format!("\"{}\" after:2024-01-01 before:2024-07-01", words[0]),
    ];
    let parsed: Vec<_> = queries.iter().map(|q| query::parse(q)).collect::<Result<_, _>>()?;
    let holds = |_: &str| Vec::new();
    let mut totals = Vec::new();
    for q in &parsed {
        totals.push(index.search(q, &holds, 0, 50)?.total); // warm-up
    }
    let mut latencies = Vec::new();
    for round in 0..20 {
        for q in &parsed {
            let t = Instant::now();
            let page = index.search(q, &holds, round % 3, 50)?;
            latencies.push(t.elapsed());
            std::hint::black_box(page);
        }
    }
    latencies.sort();

    println!("documents          {n}");
    println!("index time         {:.1} s", index_time.as_secs_f64());
    println!("docs/s             {:.0}", n as f64 / index_time.as_secs_f64());
    println!("index bytes/doc    {:.0} ({:.1} MiB total)", bytes as f64 / n as f64, bytes as f64 / (1 << 20) as f64);
    println!("queries            {} ({} distinct x 20)", latencies.len(), parsed.len());
    for (p, name) in [(0.5, "p50"), (0.95, "p95"), (0.99, "p99")] {
        println!("latency {name}        {:.2} ms", percentile(&latencies, p).as_secs_f64() * 1e3);
    }
    println!("latency max        {:.2} ms", latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3));
    println!("matches per query  {totals:?}");
    Ok(())
}
