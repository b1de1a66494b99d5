//! The UPnP IGD part of the lab's gateway (`gateway.rs`), after the UPnP
//! Device Architecture and the IGD WANIPConnection:1 service: an SSDP
//! answer to M-SEARCH naming the device description, the description and
//! the service's SCPD, and the SOAP actions AddPortMapping,
//! DeletePortMapping and GetExternalIPAddress over HTTP/1.1.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// The HTTP port of the description and control URLs.
pub(crate) const HTTP_PORT: u16 = 5000;

const SERVICE: &str = "urn:schemas-upnp-org:service:WANIPConnection:1";

/// What a SOAP request asked for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// AddPortMapping of UDP `external` to `internal` for `lease` seconds.
    Add {
        external: u16,
        internal: SocketAddr,
        lease: u32,
    },
    /// DeletePortMapping of UDP `external`.
    Delete { external: u16 },
}

/// The answer to an SSDP datagram: for an M-SEARCH, where the device
/// description is.
pub(crate) fn ssdp_answer(datagram: &[u8], lan: Ipv4Addr) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(datagram).ok()?;
    if !text.starts_with("M-SEARCH * HTTP/1.1") {
        return None;
    }
    let st = text
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("ST")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| "upnp:rootdevice".into());
    Some(
        format!(
            "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: {st}\r\nUSN: uuid:lab-gateway::{st}\r\n\
EXT:\r\nSERVER: Linux UPnP/1.1 utp-lab/1\r\nLOCATION: http://{lan}:{HTTP_PORT}/rootDesc.xml\r\n\r\n"
        )
        .into_bytes(),
    )
}

/// Serves one HTTP request on `stream`: the description, the SCPD, or a
/// SOAP action (reported to `act`, which says whether it succeeded).
pub(crate) fn serve_http(
    mut stream: TcpStream,
    public: Ipv4Addr,
    act: impl FnOnce(Action) -> bool,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    // Headers, then as much body as Content-Length says.
    let (head, body_start) = loop {
        let Ok(n) = stream.read(&mut buf) else { return };
        if n == 0 {
            return;
        }
        request.extend_from_slice(&buf[..n]);
        if let Some(end) = find(&request, b"\r\n\r\n") {
            break (
                String::from_utf8_lossy(&request[..end]).into_owned(),
                end + 4,
            );
        }
    };
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while request.len() < body_start + length {
        let Ok(n) = stream.read(&mut buf) else { return };
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buf[..n]);
    }
    let body = String::from_utf8_lossy(&request[body_start.min(request.len())..]).into_owned();
    let path = head.split(' ').nth(1).unwrap_or("");
    let (status, reply) = match (head.split(' ').next(), path) {
        (Some("GET"), "/rootDesc.xml") => ("200 OK", description()),
        (Some("GET"), "/WANIPCn.xml") => ("200 OK", scpd()),
        (Some("POST"), "/ctl/IPConn") => soap(&head, &body, public, act),
        _ => ("404 Not Found", String::new()),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/xml; charset=\"utf-8\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    );
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The text of `<tag>` in `xml`.
fn field(xml: &str, tag: &str) -> Option<String> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(xml[start..end].trim().to_string())
}

fn soap(
    head: &str,
    body: &str,
    public: Ipv4Addr,
    act: impl FnOnce(Action) -> bool,
) -> (&'static str, String) {
    let action = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case("soapaction").then(|| {
                v.trim()
                    .trim_matches('"')
                    .rsplit('#')
                    .next()
                    .map(str::to_string)
            })?
        })
        .unwrap_or_default();
    let envelope = |inner: String| {
        format!(
            "<?xml version=\"1.0\"?>\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>{inner}</s:Body></s:Envelope>"
        )
    };
    let ok = |inner: &str| {
        (
            "200 OK",
            envelope(format!(
                "<u:{action}Response xmlns:u=\"{SERVICE}\">{inner}</u:{action}Response>"
            )),
        )
    };
    let fault = |code: u16, text: &str| {
        (
            "500 Internal Server Error",
            envelope(format!(
                "<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>\
<UPnPError xmlns=\"urn:schemas-upnp-org:control-1-0\"><errorCode>{code}</errorCode>\
<errorDescription>{text}</errorDescription></UPnPError></detail></s:Fault>"
            )),
        )
    };
    let udp = field(body, "NewProtocol").as_deref() == Some("UDP");
    let port = |tag| field(body, tag).and_then(|p| p.parse::<u16>().ok());
    match action.as_str() {
        "GetExternalIPAddress" => ok(&format!(
            "<NewExternalIPAddress>{public}</NewExternalIPAddress>"
        )),
        "AddPortMapping" => {
            let internal = field(body, "NewInternalClient")
                .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
                .zip(port("NewInternalPort"));
            let lease = field(body, "NewLeaseDuration").and_then(|l| l.parse().ok());
            match (udp, port("NewExternalPort"), internal, lease) {
                (true, Some(external), Some((ip, p)), Some(lease)) => {
                    let granted = act(Action::Add {
                        external,
                        internal: SocketAddr::from((ip, p)),
                        lease,
                    });
                    if granted {
                        ok("")
                    } else {
                        fault(718, "ConflictInMappingEntry")
                    }
                }
                _ => fault(402, "Invalid Args"),
            }
        }
        "DeletePortMapping" => match (udp, port("NewExternalPort")) {
            (true, Some(external)) if act(Action::Delete { external }) => ok(""),
            (true, Some(_)) => fault(714, "NoSuchEntryInArray"),
            _ => fault(402, "Invalid Args"),
        },
        _ => fault(401, "Invalid Action"),
    }
}

fn description() -> String {
    format!(
        "<?xml version=\"1.0\"?>
<root xmlns=\"urn:schemas-upnp-org:device-1-0\">
<specVersion><major>1</major><minor>1</minor></specVersion>
<device>
<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
<friendlyName>lab gateway</friendlyName>
<UDN>uuid:lab-gateway</UDN>
<deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>
<UDN>uuid:lab-gateway-wan</UDN>
<deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>
<UDN>uuid:lab-gateway-wanconn</UDN>
<serviceList><service>
<serviceType>{SERVICE}</serviceType>
<serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>
<controlURL>/ctl/IPConn</controlURL>
<eventSubURL>/evt/IPConn</eventSubURL>
<SCPDURL>/WANIPCn.xml</SCPDURL>
</service></serviceList>
</device></deviceList>
</device></deviceList>
</device>
</root>
"
    )
}

fn scpd() -> String {
    let action = |name: &str, args: &[(&str, &str)]| {
        let args: String = args
            .iter()
            .map(|(n, d)| {
                format!("<argument><name>{n}</name><direction>{d}</direction></argument>")
            })
            .collect();
        format!("<action><name>{name}</name><argumentList>{args}</argumentList></action>")
    };
    let add = action(
        "AddPortMapping",
        &[
            ("NewRemoteHost", "in"),
            ("NewExternalPort", "in"),
            ("NewProtocol", "in"),
            ("NewInternalPort", "in"),
            ("NewInternalClient", "in"),
            ("NewEnabled", "in"),
            ("NewPortMappingDescription", "in"),
            ("NewLeaseDuration", "in"),
        ],
    );
    let delete = action(
        "DeletePortMapping",
        &[
            ("NewRemoteHost", "in"),
            ("NewExternalPort", "in"),
            ("NewProtocol", "in"),
        ],
    );
    let external = action("GetExternalIPAddress", &[("NewExternalIPAddress", "out")]);
    format!(
        "<?xml version=\"1.0\"?>
<scpd xmlns=\"urn:schemas-upnp-org:service-1-0\">
<specVersion><major>1</major><minor>0</minor></specVersion>
<actionList>{add}{delete}{external}</actionList>
<serviceStateTable></serviceStateTable>
</scpd>
"
    )
}
