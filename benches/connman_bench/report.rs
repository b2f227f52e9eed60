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
}

#[derive(Default)]
pub(crate) struct Table {
    pub(crate) rows: Vec<Row>,
    notes: Vec<String>,
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
    ) {
        println!("  -> {metric}: connman {connman} | baseline {baseline} | ratio {ratio}");
        self.rows.push(Row {
            metric: metric.into(),
            connman,
            baseline,
            ratio,
            target: target.into(),
            met,
        });
    }
    pub(crate) fn note(&mut self, s: String) {
        println!("  note: {s}");
        self.notes.push(s);
    }
    pub(crate) fn print(&self) {
        println!();
        println!("| metric | connman | baseline | ratio | target | met |");
        println!("|---|---|---|---|---|---|");
        for r in &self.rows {
            let met = match r.met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            };
            println!(
                "| {} | {} | {} | {} | {} | {} |",
                r.metric, r.connman, r.baseline, r.ratio, r.target, met
            );
        }
        println!();
        println!("Notes:");
        for n in &self.notes {
            println!("- {n}");
        }
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
