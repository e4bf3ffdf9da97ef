//! Checks of a driver's INF file: the sections and entries Windows needs to install a PnP
//! function driver for x64 from it, and their references to each other and to the image.
//!
//! The rules follow Microsoft's INF documentation (INF Version, Manufacturer, Models,
//! DDInstall, DDInstall.Services, AddService, SourceDisksFiles and Strings sections). This is not
//! InfVerif (that needs a Windows host); it catches the slips that make an INF unusable.

use std::collections::BTreeMap;
use std::fmt;

/// One thing wrong with an INF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InfProblem {
    MissingSection(String),
    /// A required `key = value` entry is missing from a section.
    MissingEntry {
        section: String,
        key: String,
    },
    /// An entry whose value is not what Windows accepts.
    BadValue {
        section: String,
        key: String,
        value: String,
        expected: &'static str,
    },
    /// A `%token%` that [Strings] does not define.
    UndefinedString(String),
    /// The Manufacturer section has no x64 (`NTamd64`) models.
    NoAmd64Models,
    /// A models line without a hardware id.
    NoHardwareId(String),
    /// The image is not where the INF copies it from or runs it as a service.
    ImageNotReferenced {
        section: String,
        image: String,
    },
}

impl fmt::Display for InfProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InfProblem::MissingSection(s) => write!(f, "no [{s}] section"),
            InfProblem::MissingEntry { section, key } => write!(f, "[{section}] has no {key}"),
            InfProblem::BadValue {
                section,
                key,
                value,
                expected,
            } => write!(f, "[{section}] {key} = {value}: expected {expected}"),
            InfProblem::UndefinedString(s) => write!(f, "%{s}% is not in [Strings]"),
            InfProblem::NoAmd64Models => write!(f, "[Manufacturer] names no NTamd64 models"),
            InfProblem::NoHardwareId(line) => write!(f, "models line without hardware id: {line}"),
            InfProblem::ImageNotReferenced { section, image } => {
                write!(f, "[{section}] does not name {image}")
            }
        }
    }
}

/// A parsed INF: sections by lower-case name, each a list of (key, value) lines; a line without
/// `=` has an empty key and the whole line as its value.
struct Inf {
    sections: BTreeMap<String, (String, Vec<(String, String)>)>,
}

impl Inf {
    fn parse(text: &str) -> Inf {
        let mut sections: BTreeMap<String, (String, Vec<(String, String)>)> = BTreeMap::new();
        let mut current: Option<String> = None;
        for raw in text.lines() {
            let line = strip_comment(raw).trim();
            if line.is_empty() {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                let key = name.trim().to_ascii_lowercase();
                sections
                    .entry(key.clone())
                    .or_insert_with(|| (name.trim().to_string(), Vec::new()));
                current = Some(key);
                continue;
            }
            let Some(section) = &current else { continue };
            let entry = match line.split_once('=') {
                Some((key, value)) => (key.trim().to_string(), value.trim().to_string()),
                None => (String::new(), line.to_string()),
            };
            if let Some((_, lines)) = sections.get_mut(section) {
                lines.push(entry);
            }
        }
        Inf { sections }
    }

    fn section(&self, name: &str) -> Option<&[(String, String)]> {
        self.sections
            .get(&name.to_ascii_lowercase())
            .map(|(_, lines)| lines.as_slice())
    }

    fn value(&self, section: &str, key: &str) -> Option<&str> {
        self.section(section)?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// Removes a `;` comment, leaving `;` inside double quotes alone.
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    for (index, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => return &line[..index],
            _ => {}
        }
    }
    line
}

fn unquote(value: &str) -> &str {
    value.trim().trim_matches('"')
}

fn fields(value: &str) -> Vec<&str> {
    value.split(',').map(str::trim).collect()
}

/// What a passing INF installs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfSummary {
    /// The hardware ids of every models line, as written.
    pub hardware_ids: Vec<String>,
    /// The service name of the function driver.
    pub service: String,
}

/// Checks the INF of a driver whose image is `image` (e.g. "xenbus.sys").
pub fn check_inf(text: &str, image: &str) -> Result<InfSummary, Vec<InfProblem>> {
    let inf = Inf::parse(text);
    let mut problems = Vec::new();
    for section in [
        "Version",
        "Manufacturer",
        "SourceDisksNames",
        "SourceDisksFiles",
        "DestinationDirs",
        "Strings",
    ] {
        if inf.section(section).is_none() {
            problems.push(InfProblem::MissingSection(section.to_string()));
        }
    }
    check_version(&inf, &mut problems);
    check_strings(&inf, text, &mut problems);
    if !inf
        .section("SourceDisksFiles")
        .unwrap_or_default()
        .iter()
        .any(|(key, value)| key.eq_ignore_ascii_case(image) || value.eq_ignore_ascii_case(image))
    {
        problems.push(InfProblem::ImageNotReferenced {
            section: "SourceDisksFiles".into(),
            image: image.to_string(),
        });
    }
    let mut hardware_ids = Vec::new();
    let mut services = Vec::new();
    for install in check_models(&inf, &mut hardware_ids, &mut problems) {
        if let Some(service) = check_install(&inf, &install, image, &mut problems) {
            if !services.contains(&service) {
                services.push(service);
            }
        }
    }
    match (problems.is_empty(), services.first()) {
        (true, Some(service)) => Ok(InfSummary {
            hardware_ids,
            service: service.clone(),
        }),
        _ => Err(problems),
    }
}

fn check_version(inf: &Inf, problems: &mut Vec<InfProblem>) {
    if inf.section("Version").is_none() {
        return;
    }
    for key in [
        "Signature",
        "Class",
        "ClassGuid",
        "Provider",
        "DriverVer",
        "CatalogFile",
    ] {
        if inf.value("Version", key).is_none() {
            problems.push(InfProblem::MissingEntry {
                section: "Version".into(),
                key: key.into(),
            });
        }
    }
    let mut bad = |key: &str, value: &str, expected| {
        problems.push(InfProblem::BadValue {
            section: "Version".into(),
            key: key.into(),
            value: value.into(),
            expected,
        })
    };
    if let Some(signature) = inf.value("Version", "Signature") {
        if !unquote(signature).eq_ignore_ascii_case("$WINDOWS NT$") {
            bad("Signature", signature, "\"$WINDOWS NT$\"");
        }
    }
    if let Some(guid) = inf.value("Version", "ClassGuid") {
        if !is_guid(guid) {
            bad("ClassGuid", guid, "a GUID in braces");
        }
    }
    if let Some(version) = inf.value("Version", "DriverVer") {
        if !is_driver_ver(version) {
            bad("DriverVer", version, "mm/dd/yyyy,w.x.y.z");
        }
    }
}

fn is_guid(value: &str) -> bool {
    let Some(inner) = value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) else {
        return false;
    };
    let groups: Vec<&str> = inner.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_driver_ver(value: &str) -> bool {
    let Some((date, version)) = value.split_once(',') else {
        return false;
    };
    let date: Vec<&str> = date.trim().split('/').collect();
    let version: Vec<&str> = version.trim().split('.').collect();
    let numbers = |parts: &[&str]| parts.iter().all(|p| p.parse::<u32>().is_ok());
    date.len() == 3
        && numbers(&date)
        && date[0].parse::<u32>().is_ok_and(|m| (1..=12).contains(&m))
        && date[1].parse::<u32>().is_ok_and(|d| (1..=31).contains(&d))
        && date[2].len() == 4
        && version.len() == 4
        && version.iter().all(|p| p.parse::<u16>().is_ok())
}

/// Every `%token%` used anywhere must be defined in [Strings] (`%13%`-style directory ids aside).
fn check_strings(inf: &Inf, text: &str, problems: &mut Vec<InfProblem>) {
    let defined: Vec<String> = inf
        .section("Strings")
        .unwrap_or_default()
        .iter()
        .map(|(key, _)| key.to_ascii_lowercase())
        .collect();
    for raw in text.lines() {
        let parts: Vec<&str> = strip_comment(raw).split('%').collect();
        // Tokens sit between a pair of '%': the odd-numbered parts that have a closing '%'.
        let closed = (parts.len() - 1) / 2;
        for token in parts.iter().skip(1).step_by(2).take(closed) {
            // Numbers are directory ids (%13%), not strings.
            let undefined = !token.is_empty()
                && !token.chars().all(|c| c.is_ascii_digit())
                && !defined.contains(&token.to_ascii_lowercase());
            if undefined {
                let problem = InfProblem::UndefinedString(token.to_string());
                if !problems.contains(&problem) {
                    problems.push(problem);
                }
            }
        }
    }
}

/// Checks [Manufacturer] and its x64 models sections; returns the install sections named.
fn check_models(
    inf: &Inf,
    hardware_ids: &mut Vec<String>,
    problems: &mut Vec<InfProblem>,
) -> Vec<String> {
    let mut installs = Vec::new();
    let mut amd64 = false;
    for (_, value) in inf.section("Manufacturer").unwrap_or_default() {
        let parts = fields(value);
        let Some((models, decorations)) = parts.split_first() else {
            continue;
        };
        for decoration in decorations {
            if !decoration.to_ascii_lowercase().starts_with("ntamd64") {
                continue;
            }
            amd64 = true;
            let section = format!("{models}.{decoration}");
            let Some(lines) = inf.section(&section) else {
                problems.push(InfProblem::MissingSection(section));
                continue;
            };
            for (description, line) in lines {
                let parts = fields(line);
                match parts.as_slice() {
                    [install, ids @ ..] if ids.iter().any(|id| !id.is_empty()) => {
                        hardware_ids.extend(ids.iter().map(|id| id.to_string()));
                        if !installs.contains(&install.to_string()) {
                            installs.push(install.to_string());
                        }
                    }
                    _ => problems.push(InfProblem::NoHardwareId(format!("{description} = {line}"))),
                }
            }
        }
    }
    if inf.section("Manufacturer").is_some() && !amd64 {
        problems.push(InfProblem::NoAmd64Models);
    }
    installs
}

/// The install section as Windows picks it for x64: `.NTamd64`, then `.NT`, then undecorated.
fn install_section(inf: &Inf, install: &str) -> Option<String> {
    [
        format!("{install}.NTamd64"),
        format!("{install}.NT"),
        install.to_string(),
    ]
    .into_iter()
    .find(|name| inf.section(name).is_some())
}

/// Checks an install section, its CopyFiles and its Services; returns the function driver's
/// service name.
fn check_install(
    inf: &Inf,
    install: &str,
    image: &str,
    problems: &mut Vec<InfProblem>,
) -> Option<String> {
    let Some(section) = install_section(inf, install) else {
        problems.push(InfProblem::MissingSection(install.to_string()));
        return None;
    };
    let copies_image = inf
        .value(&section, "CopyFiles")
        .map(fields)
        .unwrap_or_default()
        .iter()
        .any(|target| {
            target.eq_ignore_ascii_case(image)
                || inf
                    .section(target)
                    .unwrap_or_default()
                    .iter()
                    .any(|(_, file)| {
                        fields(file)
                            .first()
                            .is_some_and(|f| f.eq_ignore_ascii_case(image))
                    })
        });
    if !copies_image {
        problems.push(InfProblem::ImageNotReferenced {
            section: format!("{section} CopyFiles"),
            image: image.to_string(),
        });
    }
    let services = format!("{section}.Services");
    let Some(lines) = inf.section(&services) else {
        problems.push(InfProblem::MissingSection(services));
        return None;
    };
    // AddService = name, flags, service-install-section
    const SPSVCINST_ASSOCSERVICE: u32 = 0x2;
    let function_driver = lines.iter().find_map(|(key, value)| {
        if !key.eq_ignore_ascii_case("AddService") {
            return None;
        }
        let parts = fields(value);
        let flags = parse_number(parts.get(1)?)?;
        let service_section = parts.get(2)?;
        (flags & SPSVCINST_ASSOCSERVICE != 0)
            .then(|| (parts[0].to_string(), service_section.to_string()))
    });
    let Some((name, service_section)) = function_driver else {
        problems.push(InfProblem::MissingEntry {
            section: services,
            key: "AddService with SPSVCINST_ASSOCSERVICE (0x2)".into(),
        });
        return None;
    };
    check_service(inf, &service_section, image, problems);
    Some(name)
}

fn check_service(inf: &Inf, section: &str, image: &str, problems: &mut Vec<InfProblem>) {
    if inf.section(section).is_none() {
        problems.push(InfProblem::MissingSection(section.to_string()));
        return;
    }
    /// A key, whether a value is valid for it, and what is expected.
    type Expectation = (&'static str, fn(u32) -> bool, &'static str);
    let expectations: [Expectation; 3] = [
        ("ServiceType", |v| v == 1, "1 (SERVICE_KERNEL_DRIVER)"),
        ("StartType", |v| v <= 4, "0 to 4"),
        ("ErrorControl", |v| v <= 3, "0 to 3"),
    ];
    for (key, valid, expected) in expectations {
        match inf.value(section, key) {
            None => problems.push(InfProblem::MissingEntry {
                section: section.to_string(),
                key: key.to_string(),
            }),
            Some(value) if !parse_number(value).is_some_and(valid) => {
                problems.push(InfProblem::BadValue {
                    section: section.to_string(),
                    key: key.to_string(),
                    value: value.to_string(),
                    expected,
                })
            }
            Some(_) => {}
        }
    }
    let binary_is_image = inf.value(section, "ServiceBinary").is_some_and(|binary| {
        let file = binary.rsplit(['\\', '/']).next().unwrap_or(binary);
        file.eq_ignore_ascii_case(image)
    });
    if !binary_is_image {
        problems.push(InfProblem::ImageNotReferenced {
            section: format!("{section} ServiceBinary"),
            image: image.to_string(),
        });
    }
}

fn parse_number(value: &str) -> Option<u32> {
    let value = value.trim();
    match value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
    {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => value.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const XENBUS_INF: &str = include_str!("../../xenbus/xenbus.inf");

    fn problems(text: &str) -> Vec<InfProblem> {
        check_inf(text, "xenbus.sys").expect_err("the INF should fail")
    }

    #[test]
    fn the_xenvbd_inf_passes_with_the_vbd_hardware_id() {
        let text = include_str!("../../xenvbd/xenvbd.inf");
        let summary = check_inf(text, "xenvbd.sys").unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(summary.hardware_ids, ["XENPV\\VBD"]);
        assert_eq!(summary.service, "xenvbd");
    }

    #[test]
    fn the_xenbus_inf_passes_with_the_platform_device_ids() {
        let summary = check_inf(XENBUS_INF, "xenbus.sys").unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(
            summary.hardware_ids,
            [
                "PCI\\VEN_5853&DEV_0001",
                "PCI\\VEN_5853&DEV_0002",
                "PCI\\VEN_5853&DEV_C000"
            ]
        );
        assert_eq!(summary.service, "xenbus");
    }

    #[test]
    fn a_different_image_name_is_not_referenced() {
        let problems = check_inf(XENBUS_INF, "xennet.sys").unwrap_err();
        assert_eq!(
            problems,
            [
                InfProblem::ImageNotReferenced {
                    section: "SourceDisksFiles".into(),
                    image: "xennet.sys".into()
                },
                InfProblem::ImageNotReferenced {
                    section: "XenBus_Install CopyFiles".into(),
                    image: "xennet.sys".into()
                },
                InfProblem::ImageNotReferenced {
                    section: "XenBus_Service ServiceBinary".into(),
                    image: "xennet.sys".into()
                },
            ]
        );
    }

    #[test]
    fn version_entries_are_required_and_validated() {
        let text = XENBUS_INF
            .replace(
                "Signature   = \"$WINDOWS NT$\"",
                "Signature = \"$CHICAGO$\"",
            )
            .replace("{4d36e97d-e325-11ce-bfc1-08002be10318}", "{4d36e97d-e325}")
            .replace(
                "DriverVer   = 11/25/2026,0.1.0.0",
                "DriverVer = 2026-11-25,0.1",
            )
            .replace("CatalogFile = xenbus.cat\n", "");
        let found = problems(&text);
        assert!(found.contains(&InfProblem::MissingEntry {
            section: "Version".into(),
            key: "CatalogFile".into()
        }));
        for key in ["Signature", "ClassGuid", "DriverVer"] {
            assert!(
                found
                    .iter()
                    .any(|p| matches!(p, InfProblem::BadValue { key: k, .. } if k == key)),
                "{key}: {found:?}"
            );
        }
        assert_eq!(found.len(), 4, "{found:?}");
    }

    #[test]
    fn models_must_exist_for_x64_and_name_hardware_ids() {
        let text = XENBUS_INF.replace("XenPv, NTamd64.10.0...19041", "XenPv, NTx86");
        assert_eq!(problems(&text), [InfProblem::NoAmd64Models]);

        let text = XENBUS_INF.replace("[XenPv.NTamd64.10.0...19041]", "[Other]");
        assert_eq!(
            problems(&text),
            [InfProblem::MissingSection(
                "XenPv.NTamd64.10.0...19041".into()
            )]
        );

        let text = XENBUS_INF.replace("XenBus_Install, PCI\\VEN_5853&DEV_0002", "XenBus_Install");
        assert!(matches!(problems(&text)[..], [InfProblem::NoHardwareId(_)]));
    }

    #[test]
    fn the_service_must_be_a_kernel_driver_running_the_image() {
        let text = XENBUS_INF
            .replace("ServiceType    = 1", "ServiceType    = 0x10")
            .replace("StartType      = 0", "StartType      = 7");
        let found = problems(&text);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(matches!(&found[0], InfProblem::BadValue { key, .. } if key == "ServiceType"));
        assert!(matches!(&found[1], InfProblem::BadValue { key, .. } if key == "StartType"));

        // Without SPSVCINST_ASSOCSERVICE the device would have no function driver.
        let text = XENBUS_INF.replace("xenbus, 0x00000002,", "xenbus, 0x00000000,");
        assert!(matches!(
            problems(&text)[..],
            [InfProblem::MissingEntry { .. }]
        ));

        let text = XENBUS_INF.replace("[XenBus_Install.Services]", "[Elsewhere]");
        assert_eq!(
            problems(&text),
            [InfProblem::MissingSection("XenBus_Install.Services".into())]
        );
    }

    #[test]
    fn every_string_token_must_be_defined() {
        let text = XENBUS_INF.replace("Manufacturer           = \"xenpv\"", "");
        assert_eq!(
            problems(&text),
            [InfProblem::UndefinedString("Manufacturer".into())]
        );
    }

    #[test]
    fn comments_do_not_count_and_semicolons_in_quotes_stay() {
        assert_eq!(strip_comment("a = b ; c"), "a = b ");
        assert_eq!(strip_comment("a = \"b;c\" ; d"), "a = \"b;c\" ");
        let text = format!("{XENBUS_INF}\n; %Undefined% only in a comment\n");
        assert!(check_inf(&text, "xenbus.sys").is_ok());
    }
}
