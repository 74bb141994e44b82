//! `outpost-flash IMAGE DEVICE`: write an Outpost image onto a disk, safely.
//!
//! Checks the image against `IMAGE.sha256`, refuses the disk the running system is on, a
//! partition, and any disk with something mounted, swapped on or held; asks before erasing
//! (unless `--yes`); writes with progress; reads back and compares; says what to do next.

use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use tools::flash::{self, io, FlashError};

#[derive(Parser)]
#[command(name = "outpost-flash", version, about = "Write an Outpost image to a disk and verify it")]
struct Cli {
    /// The image (`outpost-<version>-x86_64.img`; its `.sha256` must sit beside it).
    image: PathBuf,
    /// The whole disk to erase (`/dev/sdb`, `/dev/nvme0n1`, `/dev/loop0`).
    device: PathBuf,
    /// Do not ask before erasing the disk.
    #[arg(long)]
    yes: bool,
    /// Skip the image's checksum (not recommended).
    #[arg(long)]
    no_checksum: bool,
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("outpost-flash: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Prints `label: x MB of y MB (z MB/s)` at most twice a second, on one line.
struct Progress {
    label: &'static str,
    total: u64,
    started: Instant,
    shown: Instant,
}

impl Progress {
    fn new(label: &'static str, total: u64) -> Self {
        let now = Instant::now();
        Self { label, total, started: now, shown: now }
    }

    fn update(&mut self, done: u64) {
        if self.shown.elapsed().as_millis() < 500 && done < self.total {
            return;
        }
        self.shown = Instant::now();
        let mb = |b: u64| b / 1_000_000;
        let rate = done as f64 / self.started.elapsed().as_secs_f64().max(0.001) / 1e6;
        eprint!("\r{}: {} of {} MB ({rate:.0} MB/s)   ", self.label, mb(done), mb(self.total));
        if done >= self.total {
            eprintln!();
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let image_len =
        std::fs::metadata(&cli.image).with_context(|| format!("cannot open {}", cli.image.display()))?.len();
    let open_image = || std::fs::File::open(&cli.image).map_err(io(format!("cannot open {}", cli.image.display())));

    // 1. The image is what was published.
    let mut progress = Progress::new("checking the image", image_len);
    let actual = flash::sha256_of(open_image()?, None, |d| progress.update(d)).map_err(io("cannot read the image"))?;
    if !cli.no_checksum {
        let sum_path = flash::checksum_path(&cli.image);
        let text =
            std::fs::read_to_string(&sum_path).map_err(|_| FlashError::NoChecksum(sum_path.display().to_string()))?;
        let expected =
            flash::parse_checksum(&text).ok_or_else(|| FlashError::BadChecksumFile(sum_path.display().to_string()))?;
        if expected != actual {
            return Err(FlashError::Checksum { expected, actual }.into());
        }
    }

    // 2. The target is a whole disk that nothing uses.
    let sys = Path::new("/sys");
    let disk = flash::inspect(sys, &cli.device)?;
    let mounts =
        flash::parse_mountinfo(&std::fs::read_to_string("/proc/self/mountinfo").context("cannot read mountinfo")?);
    let swaps = flash::parse_swaps(&std::fs::read_to_string("/proc/swaps").unwrap_or_default());
    flash::check_target(&disk, &mounts, &swaps, &flash::root_devs(sys, &mounts))?;
    if image_len > disk.size_bytes {
        return Err(FlashError::TooSmall {
            disk: cli.device.display().to_string(),
            image: image_len,
            capacity: disk.size_bytes,
        }
        .into());
    }
    if !cli.yes {
        eprint!(
            "This erases everything on {} ({} MB). Type yes to go on: ",
            cli.device.display(),
            disk.size_bytes / 1_000_000
        );
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).context("no answer")?;
        if answer.trim() != "yes" {
            anyhow::bail!("nothing written");
        }
    }

    // 3. Write, synced.
    let mut dev = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&cli.device)
        .map_err(io(format!("cannot open {}", cli.device.display())))?;
    let mut src = open_image()?;
    let mut buf = vec![0u8; 4 << 20];
    let mut done = 0u64;
    let mut progress = Progress::new("writing", image_len);
    loop {
        let n = src.read(&mut buf).map_err(io("cannot read the image"))?;
        if n == 0 {
            break;
        }
        dev.write_all(&buf[..n]).map_err(io(format!("cannot write {}", cli.device.display())))?;
        done += n as u64;
        progress.update(done);
    }
    dev.sync_all().map_err(io(format!("cannot sync {}", cli.device.display())))?;
    // Read back from the disk, not the page cache: drop clean cached pages first (root only;
    // without it the comparison still catches a short or failed write).
    let _ = std::fs::write("/proc/sys/vm/drop_caches", "1");

    // 4. Read back and compare.
    dev.seek(SeekFrom::Start(0)).map_err(io("cannot seek"))?;
    let mut progress = Progress::new("verifying", image_len);
    let back = flash::sha256_of(&mut dev, Some(image_len), |d| progress.update(d)).map_err(io("cannot read back"))?;
    if back != actual {
        return Err(FlashError::Verify { expected: actual, actual: back }.into());
    }
    println!("{} written and verified on {}.", cli.image.display(), cli.device.display());
    println!("Next: put the disk in the box (or boot it with UEFI), connect the LAN port, power on.");
    println!("The console shows the admin URL and a one-time password; the data partition is made on first boot.");
    Ok(())
}
