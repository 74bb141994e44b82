//! `outpostctl`: the admin CLI of an Outpost box, over its HTTPS REST API.
//!
//! The binary only dispatches: the command line is in `tools::cli`, HTTP and certificate
//! pinning in `tools::client` and `tools::pin`, the saved login in `tools::session`. Every
//! failure ends up in `main` as one `outpostctl: …` message and a non-zero exit.

use std::env;
use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::process::{ExitCode, Stdio};

use anyhow::{anyhow, bail, Context, Result};
use appliance::site;
use clap::Parser;
use serde_json::{json, Value};
use tools::cli::{self, Cli, Command, DeviceCmd, ExtensionCmd, RouteCmd, SiteCmd, TenantCmd, TrunkCmd};
use tools::client::{segment, Client, ClientError};
use tools::session::{self, Session};
use tools::table::{self, Column};

/// Holds the password for `login` in scripts; without it the password is read from stdin.
const PASSWORD_ENV: &str = "OUTPOST_PASSWORD";
const LOGIN_HINT: &str = "run `outpostctl login --url https://BOX:8443 --cacert cert.pem` first";

// What each list shows. No column names a secret, so none can reach the screen.
const TENANT_COLUMNS: &[Column] = &[("NAME", "name"), ("DISPLAY NAME", "display_name"), ("DOMAINS", "domains")];
const EXTENSION_COLUMNS: &[Column] = &[("NUMBER", "number"), ("NAME", "name")];
const DEVICE_COLUMNS: &[Column] =
    &[("MAC", "mac"), ("VENDOR", "vendor"), ("MODEL", "model"), ("EXTENSION", "extension")];
const TRUNK_COLUMNS: &[Column] = &[
    ("NAME", "name"),
    ("ROLE", "role"),
    ("HOST", "host"),
    ("PORT", "port"),
    ("TRANSPORT", "transport"),
    ("USERNAME", "username"),
    ("CHANNELS", "max_channels"),
];
const INBOUND_COLUMNS: &[Column] = &[("DID", "did"), ("DESTINATION", "destination")];
const OUTBOUND_COLUMNS: &[Column] =
    &[("NAME", "name"), ("PATTERN", "pattern"), ("TRUNKS", "trunks"), ("STRIP", "strip"), ("PREPEND", "prepend")];

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("outpostctl: {e:#}");
            if let Some(ClientError::Api { status: 401, .. }) = e.downcast_ref::<ClientError>() {
                eprintln!("the session is missing, expired or ended: {LOGIN_HINT}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let session_file = session::path(cli.session, |name| env::var_os(name))?;
    match cli.command {
        Command::Login(args) => login(&session_file, args),
        Command::Logout => logout(&session_file),
        Command::Health(args) => health(&session_file, args),
        Command::Tenant(TenantCmd::List) => list(&logged_in(&session_file)?, "/api/v1/tenants", TENANT_COLUMNS),
        Command::Extension(cmd) => extension(&logged_in(&session_file)?, cmd),
        Command::Device(cmd) => device(&logged_in(&session_file)?, cmd),
        Command::Trunk(TrunkCmd::List(t)) => {
            list(&logged_in(&session_file)?, &tenant_path(&t.tenant, "trunks")?, TRUNK_COLUMNS)
        }
        Command::Route(RouteCmd::List(t)) => {
            let client = logged_in(&session_file)?;
            println!("Inbound routes:");
            list(&client, &tenant_path(&t.tenant, "inbound-routes")?, INBOUND_COLUMNS)?;
            println!("\nOutbound routes:");
            list(&client, &tenant_path(&t.tenant, "outbound-routes")?, OUTBOUND_COLUMNS)
        }
        Command::Site(cmd) => site_cmd(&logged_in(&session_file)?, cmd),
    }
}

/// The API client of the saved session, or a message saying how to get one.
fn logged_in(session_file: &Path) -> Result<Client> {
    let Some(s) = Session::load(session_file)? else {
        bail!("not logged in: {LOGIN_HINT}");
    };
    Ok(Client::new(&s.url, &s.cacert)?.with_token(s.token))
}

fn list(client: &Client, path: &str, columns: &[Column]) -> Result<()> {
    print!("{}", table::render(&client.get(path)?, columns));
    Ok(())
}

fn tenant_path(tenant: &str, collection: &str) -> Result<String> {
    Ok(format!("/api/v1/tenants/{}/{collection}", segment(tenant)?))
}

fn login(session_file: &Path, args: cli::Login) -> Result<()> {
    let cacert = std::fs::canonicalize(&args.cacert)
        .with_context(|| format!("cannot read the certificate file {}", args.cacert.display()))?;
    let client = Client::new(&args.url, &cacert)?;
    // Read before any session opens, so a missing variable leaves nothing half-done on the box.
    let new_password = args.new_password_env.as_deref().map(from_env).transpose()?;
    let password = read_password(&args.user)?;
    let mut answer = open_session(&client, &args.user, &password)?;
    if answer["must_change_password"] == true {
        let first = client.with_token(token(&answer)?);
        let Some(new) = new_password else {
            // Do not leave a session behind that can do nothing but change the password.
            let _ = first.post_empty("/api/v1/logout");
            bail!(
                "the password of `{}` is a one-time password and must be changed first: put a new one \
                 (at least 10 characters) in an environment variable, say NEW_PW, and run \
                 `outpostctl login --url {} --cacert {} --new-password-env NEW_PW`",
                args.user,
                client.base_url(),
                cacert.display()
            );
        };
        if let Err(refused) = first.post("/api/v1/password", &json!({ "current": password, "new": new })) {
            let _ = first.post_empty("/api/v1/logout");
            return Err(refused.into());
        }
        eprintln!("outpostctl: password of `{}` changed", args.user);
        answer = open_session(&client, &args.user, &new)?;
    } else if new_password.is_some() {
        eprintln!("outpostctl: note: --new-password-env ignored: the password is not a one-time password");
    }
    let session = Session { url: client.base_url().to_owned(), cacert, token: token(&answer)? };
    session.save(session_file)?;
    println!(
        "logged in to {} as {} (role {}); session saved in {}",
        session.url,
        answer["username"].as_str().unwrap_or(&args.user),
        answer["role"].as_str().unwrap_or("?"),
        session_file.display()
    );
    Ok(())
}

fn open_session(client: &Client, user: &str, password: &str) -> Result<Value> {
    match client.post("/api/v1/login", &json!({ "username": user, "password": password })) {
        // Name the user: a typo in --user is the usual cause.
        Err(ClientError::Api { status: 401, .. }) => bail!("401: wrong user name or password for `{user}`"),
        answer => Ok(answer?),
    }
}

fn token(answer: &Value) -> Result<String> {
    answer["token"].as_str().map(str::to_owned).ok_or_else(|| anyhow!("the box's login answer has no token"))
}

/// `$OUTPOST_PASSWORD`, else one line of stdin (not echoed when stdin is a terminal).
fn read_password(user: &str) -> Result<String> {
    if let Some(pw) = env::var_os(PASSWORD_ENV).filter(|v| !v.is_empty()) {
        return pw.into_string().map_err(|_| anyhow!("{PASSWORD_ENV} is not valid UTF-8"));
    }
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    if terminal {
        eprint!("Password for {user}: ");
        echo(false);
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if terminal {
        echo(true);
        eprintln!();
    }
    read.context("cannot read the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        bail!("no password: set {PASSWORD_ENV} or give it on stdin");
    }
    Ok(password.to_owned())
}

/// Turns terminal echo off or on with stty; without stty the password simply shows.
fn echo(on: bool) {
    let arg = if on { "echo" } else { "-echo" };
    let _ = std::process::Command::new("stty").arg(arg).stdin(Stdio::inherit()).stderr(Stdio::null()).status();
}

/// A secret passed by naming an environment variable, so it is never on the command line.
fn from_env(var: &str) -> Result<String> {
    match env::var(var) {
        Ok(v) if !v.is_empty() => Ok(v),
        Ok(_) => bail!("the environment variable {var} is empty"),
        Err(_) => bail!("the environment variable {var} is not set (or not UTF-8)"),
    }
}

fn logout(session_file: &Path) -> Result<()> {
    let Some(s) = Session::load(session_file)? else {
        println!("not logged in");
        return Ok(());
    };
    let told = Client::new(&s.url, &s.cacert).map_err(anyhow::Error::from).and_then(|client| {
        match client.with_token(s.token.clone()).post_empty("/api/v1/logout") {
            // Already expired or ended on the box: nothing left to end.
            Ok(_) | Err(ClientError::Api { status: 401, .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    });
    Session::remove(session_file)?;
    told.context("forgot the session here, but could not end it on the box")?;
    println!("logged out of {}", s.url);
    Ok(())
}

fn health(session_file: &Path, args: cli::Health) -> Result<()> {
    let client = match (args.url, args.cacert) {
        (Some(url), Some(cacert)) => Client::new(&url, &cacert)?,
        _ => {
            let Some(s) = Session::load(session_file)? else {
                bail!("not logged in: pass --url and --cacert, or {LOGIN_HINT}");
            };
            Client::new(&s.url, &s.cacert)?
        }
    };
    let h = client.get("/api/v1/health")?;
    println!(
        "{}: outpost {}, site revision {}, up {}s",
        h["status"].as_str().unwrap_or("?"),
        h["version"].as_str().unwrap_or("?"),
        h["site_revision"],
        h["uptime_seconds"]
    );
    Ok(())
}

fn extension(client: &Client, cmd: ExtensionCmd) -> Result<()> {
    match cmd {
        ExtensionCmd::List(t) => list(client, &tenant_path(&t.tenant, "extensions")?, EXTENSION_COLUMNS)?,
        ExtensionCmd::Add { tenant, number, name, secret_env } => {
            let secret = secret_env.as_deref().map(from_env).transpose()?;
            let given = secret.is_some();
            let ext = site::Extension { number, name: name.unwrap_or_default(), secret, ..Default::default() };
            let created = client.post(&tenant_path(&tenant.tenant, "extensions")?, &ext)?;
            println!("added extension {} to tenant {}", ext.number, tenant.tenant);
            // The box shows a generated secret in this answer only; a given one is not echoed.
            if let (false, Some(generated)) = (given, created["secret"].as_str()) {
                println!("secret: {generated}");
                eprintln!("outpostctl: note: the generated secret is shown only now; put it in the phone");
            }
        }
        ExtensionCmd::Rm { tenant, number } => {
            client.delete(&format!("{}/{}", tenant_path(&tenant.tenant, "extensions")?, segment(&number)?))?;
            println!("removed extension {number} from tenant {}", tenant.tenant);
        }
    }
    Ok(())
}

fn device(client: &Client, cmd: DeviceCmd) -> Result<()> {
    match cmd {
        DeviceCmd::List(t) => list(client, &tenant_path(&t.tenant, "devices")?, DEVICE_COLUMNS)?,
        DeviceCmd::Add { tenant, mac, vendor, model, extension } => {
            let device = site::Device { mac, vendor, model: model.unwrap_or_default(), extension };
            let created = client.post(&tenant_path(&tenant.tenant, "devices")?, &device)?;
            let mac = created["mac"].as_str().unwrap_or(&device.mac);
            println!("added device {mac} to tenant {}", tenant.tenant);
        }
        DeviceCmd::Rm { tenant, mac } => {
            client.delete(&format!("{}/{}", tenant_path(&tenant.tenant, "devices")?, segment(&mac)?))?;
            println!("removed device {mac} from tenant {}", tenant.tenant);
        }
    }
    Ok(())
}

fn site_cmd(client: &Client, cmd: SiteCmd) -> Result<()> {
    match cmd {
        SiteCmd::Export { secrets, toml } => {
            let raw = client.get(if secrets { "/api/v1/site?secrets=true" } else { "/api/v1/site" })?;
            // Through the site type, so fields come in the document's order rather than sorted;
            // a document this build does not know (a newer box) still prints, as it came.
            match (serde_json::from_value::<site::SiteDoc>(raw.clone()), toml) {
                (Ok(doc), true) => print!("{}", site::to_toml(&doc)),
                (Ok(doc), false) => println!("{}", serde_json::to_string_pretty(&doc)?),
                (Err(e), true) => bail!("the box sent a site document this outpostctl cannot write as TOML: {e}"),
                (Err(_), false) => println!("{}", serde_json::to_string_pretty(&raw)?),
            }
        }
        SiteCmd::Apply { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            // Checked here first, so a broken file is explained without touching the box.
            let doc = site::from_toml(&text).with_context(|| file.display().to_string())?;
            let applied = client.put("/api/v1/site", &doc)?;
            let revision = &applied["revision"];
            if applied["changed"] == false {
                println!("unchanged: the box already has this site config (revision {revision})");
            } else {
                println!("applied: the site config is now at revision {revision}");
            }
        }
    }
    Ok(())
}
