//! The command line of `outpostctl`. Only shapes here; the binary does the work.

use std::path::PathBuf;

use appliance::site::Vendor;
use clap::{Args, Parser, Subcommand};

/// Administer an Outpost box over its HTTPS API.
///
/// Start with `outpostctl login --url https://BOX:8443 --cacert cert.pem`; the other commands
/// use the saved session.
#[derive(Debug, Parser)]
#[command(name = "outpostctl", version)]
pub struct Cli {
    /// The session file [default: $OUTPOSTCTL_SESSION, else $XDG_CONFIG_HOME/outpostctl/session.json]
    #[arg(long, global = true, value_name = "FILE")]
    pub session: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in and save the session. The password comes from $OUTPOST_PASSWORD, else stdin.
    Login(Login),
    /// End the session on the box and forget it here.
    Logout,
    /// Show whether the box is up, its version and site revision (no login needed).
    Health(Health),
    #[command(subcommand)]
    Tenant(TenantCmd),
    #[command(subcommand)]
    Extension(ExtensionCmd),
    #[command(subcommand)]
    Device(DeviceCmd),
    #[command(subcommand)]
    Trunk(TrunkCmd),
    #[command(subcommand)]
    Route(RouteCmd),
    #[command(subcommand)]
    Site(SiteCmd),
}

#[derive(Debug, Args)]
pub struct Login {
    /// The box, e.g. https://192.168.10.1:8443
    #[arg(long)]
    pub url: String,
    /// The box's certificate (its data_dir/tls/cert.pem); nothing else is trusted.
    #[arg(long, value_name = "PATH")]
    pub cacert: PathBuf,
    /// The admin user name.
    #[arg(long, default_value = "admin")]
    pub user: String,
    /// When the password is a one-time password: the environment variable holding the new one.
    #[arg(long, value_name = "VAR")]
    pub new_password_env: Option<String>,
}

#[derive(Debug, Args)]
pub struct Health {
    /// Ask this box instead of the logged-in one (needs --cacert too).
    #[arg(long, requires = "cacert")]
    pub url: Option<String>,
    /// The certificate of the box named by --url.
    #[arg(long, value_name = "PATH", requires = "url")]
    pub cacert: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TenantArg {
    /// The tenant's short name.
    #[arg(long, short)]
    pub tenant: String,
}

/// Tenants of the box.
#[derive(Debug, Subcommand)]
pub enum TenantCmd {
    /// Name, display name and SIP domains of every tenant.
    List,
}

/// Extensions (SIP accounts) of a tenant.
#[derive(Debug, Subcommand)]
pub enum ExtensionCmd {
    /// Number and name of every extension (secrets are never shown).
    List(TenantArg),
    /// Add an extension; without --secret-env the box generates a SIP secret and it is shown once.
    Add {
        #[command(flatten)]
        tenant: TenantArg,
        /// 2 to 8 digits, unique in the tenant.
        number: String,
        /// Who or where it is, e.g. "Front desk".
        #[arg(long)]
        name: Option<String>,
        /// The environment variable holding the SIP secret.
        #[arg(long, value_name = "VAR")]
        secret_env: Option<String>,
    },
    /// Remove an extension (refused while a device, ring group or route still uses it).
    Rm {
        #[command(flatten)]
        tenant: TenantArg,
        number: String,
    },
}

/// Phones of a tenant, by MAC address.
#[derive(Debug, Subcommand)]
pub enum DeviceCmd {
    /// MAC, vendor, model and extension of every phone.
    List(TenantArg),
    /// Add a phone so that the box provisions it.
    Add {
        #[command(flatten)]
        tenant: TenantArg,
        /// The phone's MAC address, in any usual spelling.
        mac: String,
        /// yealink, poly, cisco, fanvil, grandstream or snom
        #[arg(long, value_parser = parse_vendor)]
        vendor: Vendor,
        #[arg(long)]
        model: Option<String>,
        /// The extension on the phone's first line.
        #[arg(long)]
        extension: Option<String>,
    },
    /// Remove a phone (by MAC, in any usual spelling).
    Rm {
        #[command(flatten)]
        tenant: TenantArg,
        mac: String,
    },
}

/// SIP trunks of a tenant.
#[derive(Debug, Subcommand)]
pub enum TrunkCmd {
    /// Every trunk of the tenant (secrets are never shown).
    List(TenantArg),
}

/// Inbound and outbound routes of a tenant.
#[derive(Debug, Subcommand)]
pub enum RouteCmd {
    /// Inbound routes (DID to destination), then outbound routes (pattern to trunks).
    List(TenantArg),
}

/// The whole site config document.
#[derive(Debug, Subcommand)]
pub enum SiteCmd {
    /// Print the document as JSON (secrets only with --secrets).
    Export {
        /// Include SIP and trunk secrets.
        #[arg(long)]
        secrets: bool,
        /// Print TOML instead, ready to edit and give back to `site apply`.
        #[arg(long)]
        toml: bool,
    },
    /// Check a TOML site document here, then apply it on the box.
    Apply { file: PathBuf },
}

/// The vendor names the site document uses, case-insensitively.
fn parse_vendor(s: &str) -> Result<Vendor, String> {
    serde_json::from_value(serde_json::Value::String(s.to_ascii_lowercase()))
        .map_err(|_| format!("unknown vendor `{s}`: use yealink, poly, cisco, fanvil, grandstream or snom"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
        assert_eq!(parse_vendor("Yealink"), Ok(Vendor::Yealink));
        assert!(parse_vendor("nokia").is_err());
    }
}
