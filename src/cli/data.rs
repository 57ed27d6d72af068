//! `import`, `export` and `reset`: a company's users between test runs,
//! straight against the database (the server may be running).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::config::DEFAULT_COMPANY;
use crate::fixtures::{self, Export, Format};
use crate::storage::{Database, Store};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Json,
    Csv,
}

impl From<FormatArg> for Format {
    fn from(format: FormatArg) -> Format {
        match format {
            FormatArg::Json => Format::Json,
            FormatArg::Csv => Format::Csv,
        }
    }
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A JSON file (array of SCIM Users, one per line, or a ListResponse) or a CSV file; - reads stdin
    file: PathBuf,
    /// Company slug (created if missing)
    #[arg(long, env = "TEAMTAILOR_SCIM_COMPANY", default_value = DEFAULT_COMPANY)]
    company: String,
    /// The file's format [default: from the extension, .csv is CSV, else JSON]
    #[arg(long, env = "TEAMTAILOR_SCIM_FORMAT", value_enum)]
    format: Option<FormatArg>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Company slug
    #[arg(long, env = "TEAMTAILOR_SCIM_COMPANY", default_value = DEFAULT_COMPANY)]
    company: String,
    /// json: one SCIM User per line (what import reads back); csv: one row per user
    #[arg(
        long,
        env = "TEAMTAILOR_SCIM_FORMAT",
        value_enum,
        default_value = "json"
    )]
    format: FormatArg,
    /// Write here instead of stdout
    #[arg(long, short, env = "TEAMTAILOR_SCIM_OUTPUT")]
    output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    /// Company slug
    #[arg(long, env = "TEAMTAILOR_SCIM_COMPANY")]
    company: String,
    /// Confirm: every user and journal entry of the company is deleted
    #[arg(long, env = "TEAMTAILOR_SCIM_YES")]
    yes: bool,
}

/// Counts the bytes the parser has read, for the progress bar.
struct Counted<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buffer)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

pub async fn import(args: ImportArgs, store: &Database) -> Result<(), String> {
    let format = args
        .format
        .map(Format::from)
        .unwrap_or_else(|| Format::for_path(&args.file));
    let company = store
        .ensure_company(&args.company)
        .await
        .map_err(|e| e.to_string())?;
    let read = Arc::new(AtomicU64::new(0));
    let (reader, size): (Box<dyn Read + Send>, Option<u64>) = if args.file.as_os_str() == "-" {
        (Box::new(std::io::stdin()), None)
    } else {
        let file = std::fs::File::open(&args.file)
            .map_err(|e| format!("cannot open {}: {e}", args.file.display()))?;
        let size = file.metadata().ok().map(|m| m.len());
        (Box::new(file), size)
    };
    let reader = Counted {
        inner: reader,
        read: read.clone(),
    };

    let bar = match size {
        Some(size) => ProgressBar::new(size).with_style(
            ProgressStyle::with_template(
                "{bar:40} {percent:>3}% {binary_bytes}/{binary_total_bytes} {msg} ({eta} left)",
            )
            .expect("a valid template"),
        ),
        None => ProgressBar::new_spinner(),
    };
    bar.set_draw_target(ProgressDrawTarget::stderr());
    let started = Instant::now();
    let result = fixtures::import(
        store,
        company.id,
        reader,
        format,
        fixtures::BULK_BATCH,
        |report| {
            bar.set_position(read.load(Ordering::Relaxed));
            let rate = report.records as f64 / started.elapsed().as_secs_f64().max(0.001);
            bar.set_message(format!("{} users, {rate:.0}/s", report.records));
        },
    )
    .await;
    bar.finish_and_clear();
    let report = result.map_err(|e| e.to_string())?;
    let skipped = report.records - report.inserted;
    println!(
        "Imported {} users into company '{}' in {:.1} s{}.",
        report.inserted,
        company.slug,
        started.elapsed().as_secs_f64(),
        if skipped > 0 {
            format!(" ({skipped} skipped: their userName exists)")
        } else {
            String::new()
        }
    );
    Ok(())
}

pub async fn export(args: ExportArgs, store: &Database) -> Result<(), String> {
    let company = store
        .company_by_slug(&args.company)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no company '{}'", args.company))?;
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut export = Export::new(
        company.id,
        args.format.into(),
        "http://127.0.0.1:8080/scim/v2",
    );
    while let Some(chunk) = export.next_chunk(store).await.map_err(|e| e.to_string())? {
        out.write_all(&chunk).map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}

pub async fn reset(args: ResetArgs, store: &Database) -> Result<(), String> {
    let company = store
        .company_by_slug(&args.company)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no company '{}'", args.company))?;
    if !args.yes {
        return Err(format!(
            "this deletes every user and journal entry of company '{}'; add --yes to confirm",
            company.slug
        ));
    }
    let deleted = store
        .reset_company(company.id)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "Deleted {deleted} users and the journal of company '{}'.",
        company.slug
    );
    Ok(())
}
