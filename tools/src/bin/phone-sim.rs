//! `phone-sim`: simulated phones. `phone-sim register` registers N extensions straight away
//! (a load generator); `phone-sim boot` cold-boots phones through provisioning.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use tools::sim::sip::{self, Account};

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
}

fn main() -> Result<()> {
    match Cli::parse().command {
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
