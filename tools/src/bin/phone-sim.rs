//! `phone-sim`: simulated phones. `phone-sim register` registers N extensions straight away
//! (a load generator); `phone-sim boot` cold-boots phones through provisioning (DHCP, TFTP,
//! HTTPS, REGISTER); `phone-sim tftp-load` is the TFTP benchmark's client.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use appliance::site::Vendor;
use clap::{Parser, Subcommand};
use tools::sim::habits::{mac_of, Identity};
use tools::sim::sip::{self, Account};
use tools::sim::{boot, dhcp, tftp};

#[derive(Parser)]
#[command(name = "phone-sim", version, about = "Simulated desk phones for tests and load")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Register extensions FIRST..FIRST+COUNT-1, each with password PREFIX<number>.
    Register {
        /// The box's SIP address, e.g. 127.0.0.1:5060.
        #[arg(long)]
        server: SocketAddr,
        #[arg(long)]
        domain: String,
        #[arg(long)]
        first: u64,
        #[arg(long, default_value_t = 1)]
        count: u64,
        /// Password of extension N is this prefix followed by N.
        #[arg(long)]
        password_prefix: String,
        /// Phones registering at the same time.
        #[arg(long, default_value_t = 32)]
        parallel: usize,
        #[arg(long, default_value_t = 3600)]
        expires: u32,
    },
    /// Cold-boot simulated phones: (DHCP →) TFTP bootstrap → HTTPS file → REGISTER.
    Boot {
        /// Vendors, taken in turn: yealink,poly,cisco,grandstream,fanvil,snom,gigaset.
        #[arg(long, value_delimiter = ',', default_value = "yealink")]
        vendors: Vec<String>,
        /// Phones to boot; phone i has the MAC at index FIRST_MAC+i of its vendor's OUI.
        #[arg(long, default_value_t = 1)]
        count: u32,
        #[arg(long, default_value_t = 0)]
        first_mac: u32,
        /// The box's certificate (the phones trust only it, as a provisioned CA).
        #[arg(long)]
        cacert: std::path::PathBuf,
        /// Ask DHCP on this interface first (needs root; run it in a network namespace).
        #[arg(long)]
        dhcp_iface: Option<String>,
        /// Without DHCP: the TFTP server of the bootstrap...
        #[arg(long)]
        tftp: Option<SocketAddr>,
        /// ...or the provisioning URL (https://host:port/prov/).
        #[arg(long)]
        url: Option<String>,
        /// TFTP port when DHCP names only a host.
        #[arg(long, default_value_t = 69)]
        tftp_port: u16,
        /// Phones booting at the same time.
        #[arg(long, default_value_t = 64)]
        parallel: usize,
        #[arg(long, default_value_t = 3600)]
        expires: u32,
    },
    /// Fetch one file over TFTP again and again from PARALLEL clients for SECONDS (a benchmark
    /// load: any TFTP server).
    TftpLoad {
        #[arg(long)]
        server: SocketAddr,
        #[arg(long)]
        file: String,
        #[arg(long, default_value_t = 8)]
        parallel: usize,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Boot { vendors, count, first_mac, cacert, dhcp_iface, tftp, url, tftp_port, parallel, expires } => {
            let vendors = vendors.iter().map(|v| parse_vendor(v)).collect::<Result<Vec<_>>>()?;
            let tls = Arc::new(tools::pin::client_config(&cacert).context("the box certificate")?);
            let start = boot::Start { tftp, url, tftp_port, tls, expires };
            let dhcp = dhcp_iface.as_deref().map(dhcp::Client::bind).transpose().context("DHCP socket")?;
            run_boot(&vendors, count, first_mac, &start, dhcp.map(Arc::new), parallel)
        }
        Command::TftpLoad { server, file, parallel, seconds } => tftp_load(server, &file, parallel, seconds),
        Command::Register { server, domain, first, count, password_prefix, parallel, expires } => {
            let started = Instant::now();
            let next = Arc::new(AtomicUsize::new(0));
            let failed = Arc::new(AtomicUsize::new(0));
            let workers: Vec<_> = (0..parallel.max(1))
                .map(|_| {
                    let (next, failed, domain, prefix) =
                        (next.clone(), failed.clone(), domain.clone(), password_prefix.clone());
                    std::thread::spawn(move || -> Result<()> {
                        let socket = UdpSocket::bind(if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" })?;
                        loop {
                            let i = next.fetch_add(1, Ordering::SeqCst) as u64;
                            if i >= count {
                                return Ok(());
                            }
                            let user = (first + i).to_string();
                            let account =
                                Account { password: format!("{prefix}{user}"), user, domain: domain.clone(), server };
                            if let Err(e) = sip::register(&socket, &account, expires, "phone-sim") {
                                eprintln!("{}: {e}", account.user);
                                failed.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    })
                })
                .collect();
            for w in workers {
                w.join().map_err(|_| anyhow::anyhow!("a worker panicked"))?.context("worker")?;
            }
            let failed = failed.load(Ordering::SeqCst);
            let secs = started.elapsed().as_secs_f64();
            println!(
                "registered {} of {count} in {secs:.2} s ({:.0}/s)",
                count as usize - failed,
                (count as usize - failed) as f64 / secs
            );
            if failed > 0 {
                bail!("{failed} registrations failed");
            }
            Ok(())
        }
    }
}

fn parse_vendor(name: &str) -> Result<Vendor> {
    Vendor::ALL.into_iter().find(|v| v.as_str() == name).with_context(|| format!("unknown vendor `{name}`"))
}

/// Boots `count` phones, `parallel` at a time; prints one line per failure and a summary.
fn run_boot(
    vendors: &[Vendor],
    count: u32,
    first_mac: u32,
    start: &boot::Start,
    dhcp: Option<Arc<dhcp::Client>>,
    parallel: usize,
) -> Result<()> {
    if vendors.is_empty() {
        bail!("no vendor given");
    }
    let began = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let slowest = Arc::new(std::sync::Mutex::new(std::time::Duration::ZERO));
    let workers: Vec<_> = (0..parallel.max(1))
        .map(|_| {
            let (next, failed, slowest, start, dhcp) =
                (next.clone(), failed.clone(), slowest.clone(), start.clone(), dhcp.clone());
            let vendors = vendors.to_vec();
            std::thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst) as u32;
                if i >= count {
                    return;
                }
                let vendor = vendors[i as usize % vendors.len()];
                let phone = Identity { vendor, mac: mac_of(vendor, first_mac + i) };
                let xid = 0x5eed_0000_u32.wrapping_add(first_mac + i);
                match boot::boot(&phone, &start, dhcp.as_deref().map(|c| (c, xid))) {
                    Ok(b) => {
                        let mut s = slowest.lock().unwrap_or_else(|p| p.into_inner());
                        *s = (*s).max(b.took);
                        let ip = b.lease.and_then(|l| l.ip).map_or(String::new(), |ip| format!(" at {ip}"));
                        println!(
                            "{} {}{ip}: {} registered as {}@{}",
                            vendor.as_str(),
                            phone.mac,
                            b.url,
                            b.account.user,
                            b.account.domain
                        );
                    }
                    Err(e) => {
                        eprintln!("{} {}: {e}", vendor.as_str(), phone.mac);
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().map_err(|_| anyhow::anyhow!("a worker panicked"))?;
    }
    let failed = failed.load(Ordering::SeqCst) as u32;
    let slowest = *slowest.lock().unwrap_or_else(|p| p.into_inner());
    println!(
        "booted {} of {count} phones in {:.2} s (slowest phone {:.2} s)",
        count - failed,
        began.elapsed().as_secs_f64(),
        slowest.as_secs_f64()
    );
    if failed > 0 {
        bail!("{failed} phones did not register");
    }
    Ok(())
}

/// Fetches `file` from `parallel` clients for `seconds`; prints fetches/s and bytes/s.
fn tftp_load(server: SocketAddr, file: &str, parallel: usize, seconds: u64) -> Result<()> {
    let deadline = Instant::now() + std::time::Duration::from_secs(seconds);
    let (done, bytes, failed) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let workers: Vec<_> = (0..parallel.max(1))
        .map(|_| {
            let (done, bytes, failed, file) = (done.clone(), bytes.clone(), failed.clone(), file.to_owned());
            std::thread::spawn(move || {
                while Instant::now() < deadline {
                    match tftp::get(server, &file) {
                        Ok(body) => {
                            done.fetch_add(1, Ordering::Relaxed);
                            bytes.fetch_add(body.len(), Ordering::Relaxed);
                        }
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    let began = Instant::now();
    for w in workers {
        w.join().map_err(|_| anyhow::anyhow!("a worker panicked"))?;
    }
    let secs = began.elapsed().as_secs_f64();
    let (n, b, f) = (done.load(Ordering::Relaxed), bytes.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    println!(
        "fetches {n} failed {f} seconds {secs:.2} per_second {:.0} bytes_per_second {:.0}",
        n as f64 / secs,
        b as f64 / secs
    );
    Ok(())
}
