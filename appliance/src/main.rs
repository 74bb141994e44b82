//! `outpost`: run the box, apply or export its site config, reset the admin password.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use appliance::config::{Config, ConfigFile, LogFormat};
use appliance::{daemon, site};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "outpost", version, about = "The Outpost edge telephony appliance")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Common {
    /// The daemon config (outpost.toml). Without one, built-in defaults are used.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Where the database, box key and certificate live (overrides the config's data_dir).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Log one JSON object per line instead of human-readable text.
    #[arg(long, global = true)]
    log_json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Run the box until SIGTERM or SIGINT.
    Run {
        #[command(flatten)]
        common: Common,
    },
    /// Work with the site config document.
    Config {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Print a vendor's built-in template: what a tenant's own template
    /// (`[[tenants.templates]]` in the site config) starts from.
    Template {
        /// yealink, poly, cisco, grandstream, fanvil, snom or gigaset.
        vendor: String,
        /// The common (bootstrap) file instead of the device file.
        #[arg(long)]
        common: bool,
    },
    /// Back the box up to a file, list its backups, or restore one.
    Backup {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        action: BackupAction,
    },
    /// Manage admin accounts from the console.
    Admin {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Claim this box into a fleet tenant, show the claim, restore a backup from the fleet.
    Cloud {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        action: CloudAction,
    },
    /// Signed A/B updates: install a bundle on the other slot, mark the running slot good.
    Update {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        action: UpdateAction,
    },
}

#[derive(Subcommand)]
enum UpdateAction {
    /// Verify a bundle, write it to the inactive slot and boot that slot next (on trial).
    Install {
        file: PathBuf,
        /// Install even if the bundle is older than the running version.
        #[arg(long)]
        force: bool,
        /// Boots the new slot gets to become healthy before the old one comes back.
        #[arg(long, default_value_t = board::slots::DEFAULT_TRIES)]
        tries: u32,
        /// The public key (hex) to check the signature with, instead of the image's.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Install only if newer than what runs and not failed here before; exit code 2 when
        /// there is nothing to do (the USB-stick update).
        #[arg(long, conflicts_with = "force")]
        if_newer: bool,
    },
    /// Check a bundle (signature, versions, digests) without writing anything.
    Verify {
        file: PathBuf,
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Wait until the box is healthy (SIP answers OPTIONS, API listening), then mark the
    /// running slot good. Not healthy in time: a slot on trial is marked bad (and the box
    /// reboots into the other); a good slot stays good and the exit code is 3.
    MarkGood {
        /// Seconds to wait for health.
        #[arg(long, default_value_t = 90)]
        wait: u64,
        /// Mark good without the health check.
        #[arg(long)]
        no_check: bool,
    },
    /// Show both slots: versions, which runs, which boots next.
    Status,
    /// Do what the daemon asked root for (the image's outpost-requests.service, as root): a
    /// factory reset (the data partition is wiped at the next boot) or a reboot.
    ActOnRequests,
    /// Watch the factory-reset button (a root service on boards that have one): held 10 s, the
    /// data partition is wiped at the next boot, and the box reboots into it.
    WatchResetButton,
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Validate a document and apply it in one transaction, or change nothing and say why.
    Apply { file: PathBuf },
    /// Validate a document without applying it.
    Check { file: PathBuf },
    /// Write the current document (TOML) to stdout or a file.
    Export {
        /// Write here (mode 0600, as it holds secrets) instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Leave SIP and trunk secrets out; re-applying keeps the stored ones.
        #[arg(long)]
        no_secrets: bool,
    },
}

#[derive(Subcommand)]
enum BackupAction {
    /// Take a backup now (the box may be running): an encrypted `.outpost-backup` file.
    Create {
        /// Where to write it; default `<data dir>/backups/<id>.outpost-backup`.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Check a backup completely and stage it: it replaces this box's data at its next start.
    /// Stop the box first, or restart it after.
    Restore {
        file: PathBuf,
        /// The backup key of the box that made it (its `<data dir>/backup.key`, or the copy the
        /// fleet service holds); default this box's own.
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Check a backup (every chunk, the key, the archive) without restoring it.
    Verify {
        file: PathBuf,
        #[arg(long)]
        key: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum CloudAction {
    /// Claim this box with a one-time code from the fleet (run while the box is stopped). A
    /// code made for the replacement of a dead box also restores that box's latest backup.
    Claim {
        /// The fleet service, https://host[:port].
        #[arg(long)]
        fleet: String,
        /// PEM file of the CAs that sign the fleet's (and its broker's) certificate.
        #[arg(long)]
        ca: Option<PathBuf>,
        /// The code, as the fleet showed it (case and dashes do not matter).
        code: String,
    },
    /// Show whether and how this box is claimed.
    Status,
    /// Fetch one of this box's backups from the fleet (an id, or `latest`) and stage it; it
    /// replaces the box's data at the next start.
    Restore {
        #[arg(default_value = "latest")]
        backup: String,
    },
}

#[derive(Subcommand)]
enum AdminAction {
    /// Give an admin a new random one-time password and end their sessions.
    ResetPassword {
        #[arg(long, default_value = "admin")]
        user: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("outpost: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run { common } => {
            let config = load_config(&common)?;
            init_logs(&config, common.log_json);
            let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            runtime.block_on(daemon::run(config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { common, action } => {
            let config = load_config(&common)?;
            init_logs(&config, common.log_json);
            config_command(&config, action)
        }
        Command::Template { vendor, common } => {
            use appliance::provision::{render, FileKind};
            let Some(v) = appliance::site::Vendor::ALL.into_iter().find(|v| v.as_str() == vendor) else {
                anyhow::bail!(
                    "unknown vendor `{vendor}`: one of yealink, poly, cisco, grandstream, fanvil, snom, gigaset"
                );
            };
            print!("{}", render::builtin_template(v, if common { FileKind::Common } else { FileKind::Device }));
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { common, action } => {
            let config = load_config(&common)?;
            backup_command(&config, action)
        }
        Command::Cloud { common, action } => {
            let config = load_config(&common)?;
            init_logs(&config, common.log_json);
            cloud_command(&config, action)
        }
        Command::Update { common, action } => {
            let config = load_config(&common)?;
            init_logs(&config, common.log_json);
            update_command(&config, action)
        }
        Command::Admin { common, action: AdminAction::ResetPassword { user } } => {
            let config = load_config(&common)?;
            let store = daemon::open_store(&config.data_dir)?;
            let password = store.reset_password(&user)?;
            println!("New one-time password for {user}: {password}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn backup_command(config: &Config, action: BackupAction) -> anyhow::Result<ExitCode> {
    use appliance::backup::{self, file, local, restore, BackupKey};
    let key_for = |key: Option<PathBuf>| -> anyhow::Result<BackupKey> {
        let path = key.unwrap_or_else(|| backup::key_path(&config.data_dir));
        Ok(BackupKey::load(&path)?)
    };
    match action {
        BackupAction::Create { output } => {
            let store = daemon::open_store(&config.data_dir)?;
            let now = appliance::store::unix_now();
            let (path, manifest) = match output {
                None => local::take(&store, &config.data_dir, &config.box_name(), now)?,
                Some(path) => {
                    let key = BackupKey::load_or_create(&backup::key_path(&config.data_dir))?;
                    let sealed = backup::create(&store, &config.data_dir, &key, &config.box_name(), now)?;
                    file::write(&path, &sealed)?;
                    (path, sealed.manifest)
                }
            };
            println!(
                "Backup {} (site revision {}, {} chunks, {} bytes) written to {}",
                manifest.id,
                manifest.revision,
                manifest.chunks.len(),
                manifest.stored_len(),
                path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        BackupAction::Verify { file: path, key } => {
            let sealed = file::read(&path)?;
            let archive = backup::seal::open(&sealed, &key_for(key)?)?;
            let files = backup::archive::unpack(&archive)?;
            let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
            println!("Backup {} is sound: {}", sealed.manifest.id, names.join(", "));
            Ok(ExitCode::SUCCESS)
        }
        BackupAction::Restore { file: path, key } => {
            let sealed = file::read(&path)?;
            std::fs::create_dir_all(&config.data_dir)?;
            let staged = restore::stage(&config.data_dir, &sealed, &key_for(key)?)?;
            println!(
                "Backup {} (site revision {}) checked and staged ({}): it replaces this box's data when the box starts next.",
                sealed.manifest.id,
                sealed.manifest.revision,
                staged.join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn config_command(config: &Config, action: ConfigAction) -> anyhow::Result<ExitCode> {
    match action {
        ConfigAction::Check { file } => {
            let doc = read_site(&file)?;
            println!("{}: valid ({} tenants)", file.display(), doc.tenants.len());
        }
        ConfigAction::Apply { file } => {
            let doc = read_site(&file)?;
            let store = daemon::open_store(&config.data_dir)?;
            let applied = store.apply_site(doc, "cli")?;
            if applied.changed {
                println!("applied: site config is now at revision {}", applied.revision);
            } else {
                println!("unchanged: the document equals revision {}", applied.revision);
            }
        }
        ConfigAction::Export { output, no_secrets } => {
            let store = daemon::open_store(&config.data_dir)?;
            let mut doc = store.export_site()?;
            if no_secrets {
                for t in &mut doc.tenants {
                    t.extensions.iter_mut().for_each(|x| x.secret = None);
                    t.trunks.iter_mut().for_each(|x| x.secret = None);
                }
            }
            let text = site::to_toml(&doc);
            match output {
                Some(path) => write_private(&path, &text)?,
                None => print!("{text}"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn update_command(config: &Config, action: UpdateAction) -> anyhow::Result<ExitCode> {
    use appliance::update::{self, InstallOptions};
    let board = board::generic::GenericX86::new();
    let options = |force, tries, key: Option<&PathBuf>| -> anyhow::Result<InstallOptions> {
        Ok(InstallOptions { force, tries, running: update::running_version(), public_key: update::public_key(key)? })
    };
    match action {
        UpdateAction::Install { file, force, tries, key, if_newer } => {
            let opts = options(force, tries, key.as_ref())?;
            let done = if if_newer {
                match update::install_if_newer(&board, &file, &opts)? {
                    Some(done) => done,
                    None => {
                        println!(
                            "{}: not newer than {}, or failed here before: nothing to do",
                            file.display(),
                            opts.running
                        );
                        return Ok(ExitCode::from(2));
                    }
                }
            } else {
                update::install(&board, &file, &opts)?
            };
            println!(
                "installed {} on slot {}: it boots next, on trial for {tries} boots; reboot to start it \
                 (it is marked good once healthy, else slot {} comes back)",
                done.manifest.version,
                done.slot,
                done.slot.other()
            );
        }
        UpdateAction::Verify { file, key } => {
            let manifest = update::verify(&board, &file, &options(true, 1, key.as_ref())?)?;
            println!("{}: valid bundle of {} for {}", file.display(), manifest.version, manifest.board);
        }
        UpdateAction::MarkGood { wait, no_check } => {
            let probes = update::health::Probes::of(config);
            let probes = (!no_check).then_some(&probes);
            match update::mark_good(&board, probes, std::time::Duration::from_secs(wait)) {
                Ok(done) => println!("{done}"),
                // Exit 3: a good slot that is not healthy. The image's mark-good script keeps
                // it running; any other failure on a slot on trial reboots into the other slot.
                Err(e @ update::UpdateError::Unhealthy(_)) => {
                    eprintln!("outpost: {e}");
                    return Ok(ExitCode::from(3));
                }
                Err(e) => return Err(e.into()),
            }
        }
        UpdateAction::Status => print!("{}", update::status(&board)?),
        UpdateAction::ActOnRequests => {
            use appliance::update::requests::{self, Request};
            use board::Board;
            use embedded_svc::ota::Ota;
            let Some((request, by)) = requests::take(&config.data_dir)
                .with_context(|| format!("reading the requests in {}", requests::dir(&config.data_dir).display()))?
            else {
                return Ok(ExitCode::SUCCESS);
            };
            if request == Request::FactoryReset {
                board.ota().factory_reset()?;
            }
            println!("{} asked by {by}: rebooting", request.describe());
            // The page or command that asked gets its answer before the box goes down.
            std::thread::sleep(std::time::Duration::from_secs(2));
            if let Some((cmd, args)) = board.layout().reboot_command.split_first() {
                std::process::Command::new(cmd).args(args).status()?;
            }
        }
        UpdateAction::WatchResetButton => {
            use board::Board;
            use embedded_svc::ota::Ota;
            let layout = board.layout().clone();
            let Some(device) = layout.reset_button else {
                println!("this board has no reset button (OUTPOST_RESET_BUTTON names one)");
                return Ok(ExitCode::SUCCESS);
            };
            board::button::wait_for_hold(&device, layout.reset_key, board::button::HOLD)
                .with_context(|| format!("reading the reset button {}", device.display()))?;
            if let Err(e) = board.set_led(board::LedState::Fault) {
                tracing::warn!(error = %e, "cannot show the reset on the LED");
            }
            board.ota().factory_reset()?;
            println!("factory reset: the data partition is wiped at the next boot; rebooting");
            if let Some((cmd, args)) = layout.reboot_command.split_first() {
                std::process::Command::new(cmd).args(args).status()?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_site(file: &Path) -> anyhow::Result<site::SiteDoc> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    site::from_toml(&text).with_context(|| format!("{} was not applied", file.display()))
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

fn cloud_command(config: &Config, action: CloudAction) -> anyhow::Result<ExitCode> {
    use appliance::sync::claim;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    match action {
        CloudAction::Claim { fleet, ca, code } => {
            let done = runtime.block_on(claim::claim(&config.data_dir, &fleet, &code, ca.as_deref()))?;
            let c = &done.claim;
            println!("Claimed into tenant {} as box {} (broker {}).", c.tenant, c.box_id, c.broker);
            match (&c.replaces, done.restored) {
                (Some(old), Some((id, revision))) => println!(
                    "This box replaces {old}: its backup {id} (site revision {revision}) is checked and staged; \
                     start the box (`outpost run`) and it carries on as {old}."
                ),
                (Some(old), None) => println!("This box replaces {old}, which has no backup in the fleet."),
                (None, _) => println!("Start the box (`outpost run`): it connects to the fleet."),
            }
        }
        CloudAction::Status => match claim::load(&config.data_dir)? {
            Some(c) => println!(
                "Claimed into tenant {} as box {} (fleet {}, broker {}).",
                c.tenant, c.box_id, c.fleet, c.broker
            ),
            None if config.cloud.is_some() => println!("Cloud sync is set in the config file's [cloud] table."),
            None => println!("Not claimed: `outpost cloud claim --fleet https://… CODE` with a code from the fleet."),
        },
        CloudAction::Restore { backup } => {
            let Some(c) = claim::load(&config.data_dir)? else {
                anyhow::bail!("this box is not claimed: there is no fleet to restore from");
            };
            let (id, revision) = runtime.block_on(claim::restore(&config.data_dir, &c, &backup))?;
            println!("Backup {id} (site revision {revision}) checked and staged: it replaces this box's data when the box starts next.");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn load_config(common: &Common) -> anyhow::Result<Config> {
    let mut file = match &common.config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    if let Some(dir) = &common.data_dir {
        file.data_dir = Some(dir.clone());
    }
    let config = Config::try_from(file).context("the config was not accepted")?;
    Ok(config)
}

fn init_logs(config: &Config, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log_level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json || config.log_format == LogFormat::Json {
        builder.json().init();
    } else {
        builder.init();
    }
}
