//! A real OpenLDAP `slapd` per test (Debian packages `slapd` and `ldap-utils`): a temporary
//! directory with a generated `slapd.conf` (mdb backend; core, cosine, inetorgperson and nis
//! schemas), a generated organization bulk-loaded with `slapadd` before the server starts, a
//! certificate authority and server certificate made with the `openssl` CLI for this run, and
//! the server listening on free loopback ports for plain LDAP (StartTLS) and LDAPS. The server
//! is killed when the value is dropped.
//!
//! Disabled accounts: OpenLDAP's lock attribute (`pwdAccountLockedTime`) belongs to the ppolicy
//! overlay, which needs its own configuration; the generated directory marks a disabled person
//! with `employeeType: disabled` instead (a plain inetOrgPerson attribute), and tests configure
//! the source's disabled rule accordingly.
//!
//! slapd.conf: <https://www.openldap.org/doc/admin25/slapdconfig.html>, slapadd(8), slapd(8).

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub const BASE_DN: &str = "dc=example,dc=com";
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=com";
pub const ADMIN_PASSWORD: &str = "admin-secret";
/// A read-only account with unlimited search limits, the kind a sync binds as.
pub const READER_DN: &str = "cn=reader,dc=example,dc=com";
pub const READER_PASSWORD: &str = "reader-secret";
/// An account whose searches stop at 10 entries, paged or not.
pub const LIMITED_DN: &str = "cn=limited,dc=example,dc=com";
pub const LIMITED_PASSWORD: &str = "limited-secret";
pub const PEOPLE_BASE: &str = "ou=People,dc=example,dc=com";
pub const GROUPS_BASE: &str = "ou=Groups,dc=example,dc=com";

/// The org units people are spread over (relative to `ou=People`), outermost first, with the
/// department and the group their people are direct members of.
pub const UNITS: [(&[&str], &str, &str); 6] = [
    (&["Sales"], "Sales", "sales"),
    (&["Sales", "EMEA"], "Sales", "emea-sales"),
    (&["Sales", "Americas"], "Sales", "americas-sales"),
    (&["Engineering"], "Engineering", "engineering"),
    (&["Engineering", "Platform"], "Engineering", "platform"),
    (&["Finance"], "Finance", "finance"),
];

/// Groups and the groups nested in them (parent -> children).
pub const NESTING: [(&str, &[&str]); 3] = [
    ("everyone", &["sales", "engineering", "finance"]),
    ("sales", &["emea-sales", "americas-sales"]),
    ("engineering", &["platform"]),
];

/// Every `AUDITOR_EVERY`th person is also in `auditors`, a groupOfUniqueNames.
pub const AUDITOR_EVERY: usize = 10;
/// Person `i` is disabled when `i % DISABLED_EVERY == DISABLED_EVERY - 1`.
pub const DISABLED_EVERY: usize = 50;

#[derive(Debug, Clone)]
pub struct SlapdOptions {
    pub people: usize,
}

impl Default for SlapdOptions {
    fn default() -> Self {
        Self { people: 2000 }
    }
}

pub struct Slapd {
    child: Child,
    dir: tempfile::TempDir,
    /// Plain LDAP (and StartTLS) on 127.0.0.1.
    pub port: u16,
    /// LDAPS on 127.0.0.1.
    pub tls_port: u16,
    pub people: usize,
}

impl Slapd {
    pub fn start(options: SlapdOptions) -> anyhow::Result<Slapd> {
        let slapd = Path::new("/usr/sbin/slapd");
        if !slapd.exists() {
            bail!("/usr/sbin/slapd is missing: install the Debian packages slapd and ldap-utils");
        }
        let dir = tempfile::Builder::new().prefix("tenure-slapd-").tempdir()?;
        make_certificates(dir.path())?;
        std::fs::create_dir(dir.path().join("db"))?;
        std::fs::write(dir.path().join("slapd.conf"), config(dir.path()))?;
        std::fs::write(dir.path().join("data.ldif"), directory_ldif(options.people))?;
        run(
            Command::new("/usr/sbin/slapadd")
                .arg("-q")
                .arg("-f")
                .arg(dir.path().join("slapd.conf"))
                .arg("-l")
                .arg(dir.path().join("data.ldif")),
            "slapadd",
        )?;
        // A port picked from a closed listener may be taken again before slapd binds it; then
        // slapd exits and another pair is tried.
        let mut last_error = None;
        for _ in 0..5 {
            let (port, tls_port) = (free_port()?, free_port()?);
            match spawn(dir.path(), port, tls_port) {
                Ok(child) => return Ok(Slapd { child, dir, port, tls_port, people: options.people }),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("slapd did not start")))
    }

    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// LDAPS by IP address: the certificate names 127.0.0.1 and localhost.
    pub fn ldaps_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.tls_port)
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Applies an LDIF change set (ldapmodify(1) syntax) as the directory admin.
    pub async fn modify(&self, ldif: &str) -> anyhow::Result<()> {
        use tokio::io::AsyncWriteExt;
        let mut child = tokio::process::Command::new("ldapmodify")
            .args(["-x", "-H", &self.url(), "-D", ADMIN_DN, "-w", ADMIN_PASSWORD])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("ldapmodify (Debian package ldap-utils)")?;
        let mut stdin = child.stdin.take().context("ldapmodify stdin")?;
        stdin.write_all(ldif.as_bytes()).await?;
        drop(stdin);
        let out = child.wait_with_output().await?;
        if !out.status.success() {
            bail!("ldapmodify failed: {}\n{}", String::from_utf8_lossy(&out.stderr), ldif);
        }
        Ok(())
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The uid of person `i`.
pub fn uid(i: usize) -> String {
    format!("user{i:05}")
}

pub fn person_unit(i: usize) -> &'static (&'static [&'static str], &'static str, &'static str) {
    &UNITS[i % UNITS.len()]
}

/// The org unit path Tenure derives for person `i`: `/People/Sales/EMEA`.
pub fn person_org_unit(i: usize) -> String {
    let mut path = String::from("/People");
    for u in person_unit(i).0 {
        path.push('/');
        path.push_str(u);
    }
    path
}

pub fn unit_dn(units: &[&str]) -> String {
    let mut dn = String::new();
    for u in units.iter().rev() {
        let _ = write!(dn, "ou={u},");
    }
    format!("{dn}{PEOPLE_BASE}")
}

pub fn person_dn(i: usize) -> String {
    format!("uid={},{}", uid(i), unit_dn(person_unit(i).0))
}

pub fn group_dn(name: &str) -> String {
    format!("cn={name},{GROUPS_BASE}")
}

pub fn is_disabled(i: usize) -> bool {
    i % DISABLED_EVERY == DISABLED_EVERY - 1
}

/// Person `i`'s manager: the first person of their block of ten (none for those).
pub fn manager_of(i: usize) -> Option<usize> {
    (!i.is_multiple_of(10)).then_some(i - i % 10)
}

fn person_ldif(i: usize) -> String {
    let (_, department, _) = person_unit(i);
    let mut s = format!(
        "dn: {dn}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: Given{i} Family{i}\ngivenName: Given{i}\nsn: Family{i}\n\
         displayName: Given{i} Family{i}\nmail: {uid}@example.com\ndepartmentNumber: {department}\ntitle: Title {t}\n\
         employeeNumber: E{i:05}\n",
        dn = person_dn(i),
        uid = uid(i),
        t = i % 7
    );
    if let Some(m) = manager_of(i) {
        let _ = writeln!(s, "manager: {}", person_dn(m));
    }
    if is_disabled(i) {
        s.push_str("employeeType: disabled\n");
    }
    s
}

/// When the generated entries were last modified: long before any test changes them, a minute
/// apart in order (the n-th entry at `LOADED_FROM` + n minutes), as in a directory in use, so an
/// incremental read after a change sees only that change.
pub const LOADED_FROM: &str = "20250101000000Z";

/// The generated organization, as LDIF for slapadd.
pub fn directory_ldif(people: usize) -> String {
    let plain = plain_directory_ldif(people);
    let start = time::macros::datetime!(2025-01-01 00:00:00);
    let format = time::macros::format_description!("[year][month][day][hour][minute][second]Z");
    let mut out = String::with_capacity(plain.len() + plain.len() / 4);
    for (n, entry) in plain.split_terminator("\n\n").enumerate() {
        let minutes = i64::try_from(n).unwrap_or(i64::MAX / 120);
        let stamp =
            (start + time::Duration::minutes(minutes)).format(format).unwrap_or_else(|_| LOADED_FROM.to_owned());
        let _ = write!(out, "{entry}\ncreateTimestamp: {stamp}\nmodifyTimestamp: {stamp}\n\n");
    }
    out
}

fn plain_directory_ldif(people: usize) -> String {
    let mut s = String::with_capacity(people * 400 + 4096);
    let _ = write!(
        s,
        "dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
         dn: {READER_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: reader\nuserPassword: {READER_PASSWORD}\n\n\
         dn: {LIMITED_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: limited\nuserPassword: {LIMITED_PASSWORD}\n\n\
         dn: {PEOPLE_BASE}\nobjectClass: organizationalUnit\nou: People\n\n\
         dn: {GROUPS_BASE}\nobjectClass: organizationalUnit\nou: Groups\n\n"
    );
    // Parents before children, as slapadd wants.
    let mut units: Vec<&[&str]> = UNITS.iter().map(|u| u.0).collect();
    units.sort_by_key(|u| u.len());
    for u in units {
        let _ = write!(s, "dn: {}\nobjectClass: organizationalUnit\nou: {}\n\n", unit_dn(u), u[u.len() - 1]);
    }
    for i in 0..people {
        s.push_str(&person_ldif(i));
        s.push('\n');
    }
    let mut groups: Vec<&str> = UNITS.iter().map(|u| u.2).collect();
    groups.push("everyone");
    for group in groups {
        let mut members: Vec<String> = (0..people).filter(|&i| person_unit(i).2 == group).map(person_dn).collect();
        if let Some((_, children)) = NESTING.iter().find(|(parent, _)| *parent == group) {
            members.extend(children.iter().map(|c| group_dn(c)));
        }
        if members.is_empty() {
            // groupOfNames requires a member; an empty group names itself, as is customary.
            members.push(group_dn(group));
        }
        let _ = writeln!(s, "dn: {}\nobjectClass: groupOfNames\ncn: {group}", group_dn(group));
        for m in members {
            let _ = writeln!(s, "member: {m}");
        }
        s.push('\n');
    }
    let _ = writeln!(s, "dn: {}\nobjectClass: groupOfUniqueNames\ncn: auditors", group_dn("auditors"));
    let auditors: Vec<usize> = (0..people).step_by(AUDITOR_EVERY).collect();
    if auditors.is_empty() {
        let _ = writeln!(s, "uniqueMember: {}", group_dn("auditors"));
    }
    for (n, i) in auditors.into_iter().enumerate() {
        // One value carries the optional UID suffix of nameAndOptionalUID (RFC 4517 §3.3.21).
        let suffix = if n == 1 { "#'0101'B" } else { "" };
        let _ = writeln!(s, "uniqueMember: {}{suffix}", person_dn(i));
    }
    s.push('\n');
    s
}

fn config(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "include /etc/ldap/schema/core.schema\n\
         include /etc/ldap/schema/cosine.schema\n\
         include /etc/ldap/schema/inetorgperson.schema\n\
         include /etc/ldap/schema/nis.schema\n\
         modulepath /usr/lib/ldap\n\
         moduleload back_mdb\n\
         pidfile {d}/slapd.pid\n\
         TLSCACertificateFile {d}/ca.pem\n\
         TLSCertificateFile {d}/server.pem\n\
         TLSCertificateKeyFile {d}/server.key\n\
         database mdb\n\
         maxsize 4294967296\n\
         suffix \"{BASE_DN}\"\n\
         rootdn \"{ADMIN_DN}\"\n\
         rootpw {ADMIN_PASSWORD}\n\
         directory {d}/db\n\
         index objectClass eq\n\
         index entryUUID eq\n\
         index modifyTimestamp eq\n\
         index uid eq\n\
         index member,uniqueMember eq\n\
         limits dn.exact=\"{READER_DN}\" size=unlimited time=unlimited\n\
         limits dn.exact=\"{LIMITED_DN}\" size.soft=10 size.hard=10 size.prtotal=10\n\
         access to attrs=userPassword by anonymous auth by * none\n\
         access to * by users read by * none\n"
    )
}

fn make_certificates(dir: &Path) -> anyhow::Result<()> {
    let p = |name: &str| dir.join(name);
    std::fs::write(
        p("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )?;
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run(
        Command::new("openssl")
            .args(["req", "-x509"])
            .args(ec)
            .arg("-keyout")
            .arg(p("ca.key"))
            .arg("-out")
            .arg(p("ca.pem"))
            .args([
                "-days",
                "2",
                "-subj",
                "/CN=Tenure test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ]),
        "openssl req (CA)",
    )?;
    run(
        Command::new("openssl")
            .arg("req")
            .args(ec)
            .arg("-keyout")
            .arg(p("server.key"))
            .arg("-out")
            .arg(p("server.csr"))
            .args(["-subj", "/CN=localhost"]),
        "openssl req (server)",
    )?;
    run(
        Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-in"])
            .arg(p("server.csr"))
            .arg("-CA")
            .arg(p("ca.pem"))
            .arg("-CAkey")
            .arg(p("ca.key"))
            .arg("-CAcreateserial")
            .arg("-out")
            .arg(p("server.pem"))
            .arg("-extfile")
            .arg(p("server.ext")),
        "openssl x509 (server)",
    )?;
    Ok(())
}

fn run(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let out = command.stdin(Stdio::null()).output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!("{what} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn spawn(dir: &Path, port: u16, tls_port: u16) -> anyhow::Result<Child> {
    let log = std::fs::File::create(dir.join("slapd.log"))?;
    let mut child = Command::new("/usr/sbin/slapd")
        .arg("-f")
        .arg(dir.join("slapd.conf"))
        .arg("-h")
        .arg(format!("ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{tls_port}/"))
        // -d keeps slapd in the foreground, where Drop can kill it; 0 logs nothing extra.
        .args(["-d", "0"])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting /usr/sbin/slapd")?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait()? {
            let log = std::fs::read_to_string(dir.join("slapd.log")).unwrap_or_default();
            bail!("slapd exited ({status}) before listening:\n{log}");
        }
        let up = |p: u16| std::net::TcpStream::connect(("127.0.0.1", p)).is_ok();
        if up(port) && up(tls_port) {
            return Ok(child);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("slapd did not listen on {port}/{tls_port} within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
