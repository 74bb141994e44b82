//! `outpost-bundle`: make the update signing key and signed update bundles.
//!
//! ```text
//! outpost-bundle keygen --out DIR            # DIR/update.key (secret, 0600), DIR/update.pub
//! outpost-bundle create --key DIR/update.key --version 0.2.0 \
//!     --root root.squashfs --kernel vmlinuz --initrd initrd.img --out outpost-0.2.0.bundle
//! outpost-bundle verify --pub DIR/update.pub outpost-0.2.0.bundle
//! ```
//! The format is `appliance::update::bundle` (docs in image/README.md).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use anyhow::Context;
use appliance::update::bundle::{self, BundleError, BundleSpec, SigningKey};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "outpost-bundle", version, about = "Make Outpost's update key and signed update bundles")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make a new Ed25519 key pair: DIR/update.key (keep it secret) and DIR/update.pub (goes
    /// into the image). Refuses to overwrite an existing key.
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Make a signed bundle.
    Create {
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        version: String,
        /// The oldest running version this bundle may be installed over.
        #[arg(long)]
        min_version: Option<String>,
        #[arg(long, default_value = "generic-x86_64")]
        board: String,
        #[arg(long)]
        root: PathBuf,
        #[arg(long)]
        kernel: PathBuf,
        #[arg(long)]
        initrd: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a bundle's signature and digests and print its manifest.
    Verify {
        #[arg(long = "pub")]
        public: PathBuf,
        file: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Keygen { out } => {
            std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
            let (key, hex) = SigningKey::generate()?;
            let secret = out.join("update.key");
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&secret)
                .with_context(|| format!("cannot create {} (is there a key already?)", secret.display()))?;
            writeln!(f, "{hex}")?;
            std::fs::write(out.join("update.pub"), format!("{}\n", key.public_hex()))?;
            println!("wrote {} and {}", secret.display(), out.join("update.pub").display());
        }
        Command::Create { key, version, min_version, board, root, kernel, initrd, out } => {
            let key = SigningKey::load(&key)?;
            // Reproducible: the bundle's times come from SOURCE_DATE_EPOCH when it is set.
            let created = match std::env::var("SOURCE_DATE_EPOCH") {
                Ok(s) => s.parse().context("SOURCE_DATE_EPOCH is not a number")?,
                Err(_) => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs(),
            };
            let spec = BundleSpec {
                version: &version,
                min_version: min_version.as_deref(),
                board: &board,
                created,
                files: vec![(bundle::ROOT, &root), (bundle::KERNEL, &kernel), (bundle::INITRD, &initrd)],
            };
            let file = std::fs::File::create(&out).with_context(|| format!("cannot create {}", out.display()))?;
            let manifest = bundle::create(&spec, &key, std::io::BufWriter::new(file))?;
            println!("wrote {} ({} for {})", out.display(), manifest.version, manifest.board);
        }
        Command::Verify { public, file } => {
            let key = bundle::load_public_key(&public)?;
            let f = std::fs::File::open(&file).with_context(|| format!("cannot open {}", file.display()))?;
            let manifest = bundle::read(f, &key, |_| Ok::<(), BundleError>(()), |_, _| Ok(()))?;
            println!("{}", serde_json::to_string_pretty(&manifest)?);
        }
    }
    Ok(())
}
