//! Statistics over samples and the results table printed at the end.

pub(crate) fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v
}

/// Percentile (0..=100) of sorted data, nearest rank.
pub(crate) fn pct(s: &[f64], p: f64) -> f64 {
    if s.is_empty() {
        return f64::NAN;
    }
    let k = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[k.clamp(1, s.len()) - 1]
}

/// The median (mean of the middle two for an even count).
pub(crate) fn median(v: &[f64]) -> f64 {
    let s = sorted(v.to_vec());
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

pub(crate) struct Row {
    pub(crate) metric: String,
    pub(crate) connman: String,
    pub(crate) baseline: String,
    pub(crate) ratio: String,
    pub(crate) target: String,
    pub(crate) met: Option<bool>,
    /// The issue target this row decides (e.g. "16.1"), if any.
    pub(crate) key: Option<&'static str>,
    /// The row's figures as numbers, for the JSON.
    pub(crate) values: Vec<(&'static str, f64)>,
}

impl Row {
    /// Marks the row as deciding target `k` (see `results::TARGETS`).
    pub(crate) fn key(&mut self, k: &'static str) -> &mut Row {
        self.key = Some(k);
        self
    }
    /// Adds a named figure to the JSON of this row.
    pub(crate) fn val(&mut self, name: &'static str, x: f64) -> &mut Row {
        self.values.push((name, x));
        self
    }
}

#[derive(Default)]
pub(crate) struct Table {
    pub(crate) rows: Vec<Row>,
    pub(crate) notes: Vec<String>,
    /// Named sample series (for the JSON and the picture).
    pub(crate) series: Vec<(String, Vec<f64>)>,
}

impl Table {
    pub(crate) fn row(
        &mut self,
        metric: &str,
        connman: String,
        baseline: String,
        ratio: String,
        target: &str,
        met: Option<bool>,
    ) -> &mut Row {
        println!("  -> {metric}: connman {connman} | baseline {baseline} | ratio {ratio}");
        self.rows.push(Row {
            metric: metric.into(),
            connman,
            baseline,
            ratio,
            target: target.into(),
            met,
            key: None,
            values: vec![],
        });
        self.rows.last_mut().expect("just pushed")
    }
    pub(crate) fn note(&mut self, s: String) {
        println!("  note: {s}");
        self.notes.push(s);
    }
    /// Keeps a sample series for the JSON (not printed).
    pub(crate) fn series(&mut self, name: impl Into<String>, v: Vec<f64>) {
        self.series.push((name.into(), v));
    }
    pub(crate) fn print(&self) {
        println!();
        println!("| metric | connman | baseline | ratio | target | met |");
        println!("|---|---|---|---|---|---|");
        for r in &self.rows {
            println!(
                "| {} | {} | {} | {} | {} | {} |",
                r.metric,
                r.connman,
                r.baseline,
                r.ratio,
                r.target,
                met_word(r.met)
            );
        }
        println!();
        println!("Notes:");
        for n in &self.notes {
            println!("- {n}");
        }
    }
}

pub(crate) fn met_word(m: Option<bool>) -> &'static str {
    match m {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "-",
    }
}

pub(crate) fn us(d: f64) -> String {
    format!("{:.1} µs", d / 1e3)
}

/// `v`, each divided by `div`, with `decimals` digits, space-separated.
pub(crate) fn joined(v: &[f64], div: f64, decimals: usize) -> String {
    let parts: Vec<String> = v
        .iter()
        .map(|x| format!("{:.*}", decimals, x / div))
        .collect();
    parts.join(" ")
}

pub(crate) fn ratio(a: f64, b: f64) -> String {
    format!("{:.3}", a / b)
}
