//! The wire format: the dump request we send and the `inet_diag_msg` records the kernel answers with.
//! Pure functions over byte slices, so captured dumps test them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::DiagError;

/// `TCPDIAG_GETSOCK`: the original inet_diag request. Unlike `SOCK_DIAG_BY_FAMILY` it takes no family, so
/// one walk of the kernel's socket hash returns IPv4 and IPv6 sockets together (half the work of `ss`,
/// which walks once per family).
const TCPDIAG_GETSOCK: u16 = 18;
/// `SOCK_DIAG_BY_FAMILY`: the request naming one address family.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const IPPROTO_TCP: u8 = 6;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const INET_DIAG_REQ_BYTECODE: u16 = 1;

const NLMSG_HDR_LEN: usize = 16;
/// `struct inet_diag_req`: family, src_len, dst_len, ext, a 48-byte `inet_diag_sockid`, states, dbs.
const REQ_LEN: usize = 60;
/// `struct inet_diag_msg` without attributes.
const DIAG_MSG_LEN: usize = 72;

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// Every state bit from ESTABLISHED (1) to CLOSING (11); the kernel adds NEW_SYN_RECV for SYN_RECV.
pub(crate) const ALL_STATES: u32 = 0xffe;

/// Encode a dump request for IPv4 and IPv6 sockets in `states` (a bit per kernel state number), filtered
/// by `bytecode`.
pub(crate) fn dump_request(seq: u32, states: u32, bytecode: Option<&[u8]>) -> Vec<u8> {
    let attr_len = bytecode.map_or(0, |bc| 4 + bc.len());
    let mut out = header(TCPDIAG_GETSOCK, seq, REQ_LEN + attr_len);
    // family 0 (both), no address prefixes, no extensions: the cheapest record the kernel can send.
    out.extend_from_slice(&[0u8; 4 + 48]);
    out.extend_from_slice(&states.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    if let Some(bc) = bytecode {
        out.extend_from_slice(&(attr_len as u16).to_ne_bytes());
        out.extend_from_slice(&INET_DIAG_REQ_BYTECODE.to_ne_bytes());
        out.extend_from_slice(bc);
    }
    out
}

/// Encode a dump request for IPv6 sockets only, in `states` (`struct inet_diag_req_v2`).
pub(crate) fn ipv6_dump_request(seq: u32, states: u32) -> Vec<u8> {
    let mut out = header(SOCK_DIAG_BY_FAMILY, seq, 56);
    out.extend_from_slice(&[AF_INET6, IPPROTO_TCP, 0, 0]);
    out.extend_from_slice(&states.to_ne_bytes());
    out.extend_from_slice(&[0u8; 48]);
    out
}

/// A `struct nlmsghdr` for a dump request with `body` bytes after it.
fn header(kind: u16, seq: u32, body: usize) -> Vec<u8> {
    let total = NLMSG_HDR_LEN + body;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out
}

/// One netlink message of a dump answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Record<'a> {
    /// A socket.
    Socket(DiagMsg<'a>),
    /// The end of the dump.
    Done,
    /// A message from another request (a stale answer); skipped.
    Foreign,
}

/// Walk the netlink messages in one `recv` buffer, answering to request `seq`.
pub(crate) fn records(buf: &[u8], seq: u32) -> impl Iterator<Item = Result<Record<'_>, DiagError>> {
    let mut off = 0usize;
    std::iter::from_fn(move || {
        if off >= buf.len() {
            return None;
        }
        let rest = &buf[off..];
        if rest.len() < NLMSG_HDR_LEN {
            off = buf.len();
            return Some(Err(DiagError::Malformed(format!(
                "{} trailing bytes, less than a header",
                rest.len()
            ))));
        }
        let len = u32::from_ne_bytes(rest[0..4].try_into().unwrap()) as usize;
        if len < NLMSG_HDR_LEN || len > rest.len() {
            off = buf.len();
            return Some(Err(DiagError::Malformed(format!(
                "message length {len} with {} bytes left",
                rest.len()
            ))));
        }
        off += (len + 3) & !3;
        let kind = u16::from_ne_bytes([rest[4], rest[5]]);
        let msg_seq = u32::from_ne_bytes(rest[8..12].try_into().unwrap());
        let body = &rest[NLMSG_HDR_LEN..len];
        Some(if msg_seq != seq {
            Ok(Record::Foreign)
        } else {
            match kind {
                NLMSG_DONE => Ok(Record::Done),
                NLMSG_ERROR => {
                    let errno = body
                        .get(..4)
                        .map_or(0, |b| i32::from_ne_bytes(b.try_into().unwrap()));
                    Err(DiagError::Kernel(std::io::Error::from_raw_os_error(-errno)))
                }
                _ if body.len() < DIAG_MSG_LEN => Err(DiagError::Malformed(format!(
                    "socket record of {} bytes, expected at least 72",
                    body.len()
                ))),
                _ => Ok(Record::Socket(DiagMsg(body))),
            }
        })
    })
}

/// A view of one `struct inet_diag_msg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DiagMsg<'a>(&'a [u8]);

impl DiagMsg<'_> {
    /// `idiag_family`: 2 (IPv4) or 10 (IPv6).
    pub(crate) fn is_ipv6(&self) -> bool {
        self.0[0] == AF_INET6
    }

    /// `idiag_state`, the kernel state number.
    #[inline]
    pub(crate) fn state(&self) -> u8 {
        self.0[1]
    }

    /// The local address and port (`id.idiag_src`, `id.idiag_sport`).
    pub(crate) fn local(&self) -> SocketAddr {
        SocketAddr::new(self.addr(8), u16::from_be_bytes([self.0[4], self.0[5]]))
    }

    /// The remote address and port (`id.idiag_dst`, `id.idiag_dport`).
    #[cfg(test)]
    pub(crate) fn remote(&self) -> SocketAddr {
        SocketAddr::new(self.addr(24), u16::from_be_bytes([self.0[6], self.0[7]]))
    }

    /// `idiag_rqueue`: for LISTEN, the accept queue now; otherwise unread bytes.
    pub(crate) fn rqueue(&self) -> u32 {
        self.u32_at(56)
    }

    /// `idiag_wqueue`: for LISTEN, the backlog (min of listen()'s argument and somaxconn); otherwise unsent bytes.
    pub(crate) fn wqueue(&self) -> u32 {
        self.u32_at(60)
    }

    fn u32_at(&self, at: usize) -> u32 {
        u32::from_ne_bytes(self.0[at..at + 4].try_into().unwrap())
    }

    fn addr(&self, at: usize) -> IpAddr {
        let raw: [u8; 16] = self.0[at..at + 16].try_into().unwrap();
        match self.0[0] {
            AF_INET => IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3])),
            _ => IpAddr::V6(Ipv6Addr::from(raw)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout() {
        let req = dump_request(7, ALL_STATES, None);
        assert_eq!(req.len(), 76);
        assert_eq!(u32::from_ne_bytes(req[0..4].try_into().unwrap()), 76);
        assert_eq!(u16::from_ne_bytes([req[4], req[5]]), TCPDIAG_GETSOCK);
        assert_eq!(u32::from_ne_bytes(req[8..12].try_into().unwrap()), 7);
        assert_eq!(req[16], 0, "family must be unspecified to get both");
        assert_eq!(u32::from_ne_bytes(req[68..72].try_into().unwrap()), ALL_STATES);
        let with_bc = dump_request(1, ALL_STATES, Some(&[1, 2, 3, 4]));
        assert_eq!(with_bc.len(), 84);
        assert_eq!(
            u16::from_ne_bytes([with_bc[76], with_bc[77]]),
            8,
            "attribute length"
        );
        assert_eq!(
            u16::from_ne_bytes([with_bc[78], with_bc[79]]),
            INET_DIAG_REQ_BYTECODE
        );
        assert_eq!(&with_bc[80..], &[1, 2, 3, 4]);
        let v6 = ipv6_dump_request(2, 1 << 1);
        assert_eq!(v6.len(), 72);
        assert_eq!(u16::from_ne_bytes([v6[4], v6[5]]), SOCK_DIAG_BY_FAMILY);
        assert_eq!((v6[16], v6[17]), (AF_INET6, IPPROTO_TCP));
        assert_eq!(u32::from_ne_bytes(v6[20..24].try_into().unwrap()), 2);
    }

    #[test]
    fn truncated_and_lying_lengths_are_errors() {
        assert!(matches!(
            records(&[0u8; 8], 1).next(),
            Some(Err(DiagError::Malformed(_)))
        ));
        let mut msg = vec![0u8; 16];
        msg[0..4].copy_from_slice(&200u32.to_ne_bytes());
        assert!(matches!(
            records(&msg, 1).next(),
            Some(Err(DiagError::Malformed(_)))
        ));
        msg[0..4].copy_from_slice(&4u32.to_ne_bytes());
        assert!(matches!(
            records(&msg, 1).next(),
            Some(Err(DiagError::Malformed(_)))
        ));
    }

    #[test]
    fn kernel_error_and_foreign_sequence() {
        let mut msg = vec![0u8; 20];
        msg[0..4].copy_from_slice(&20u32.to_ne_bytes());
        msg[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        msg[8..12].copy_from_slice(&5u32.to_ne_bytes());
        msg[16..20].copy_from_slice(&(-22i32).to_ne_bytes());
        match records(&msg, 5).next() {
            Some(Err(DiagError::Kernel(e))) => assert_eq!(e.raw_os_error(), Some(22)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(records(&msg, 6).next(), Some(Ok(Record::Foreign))));
    }
}
