//! inet_diag bytecode (`INET_DIAG_REQ_BYTECODE`): the port filter the kernel runs on every socket, so
//! sockets we do not want are never copied to user space.

use crate::{PortFilter, PortSide};

const BC_JMP: u8 = 1;
const BC_S_EQ: u8 = 11;
const BC_D_EQ: u8 = 12;

/// A comparison is two `inet_diag_bc_op`s: the op itself and one carrying the port in its `no` field.
const COMPARE_LEN: usize = 8;
const JMP_LEN: usize = 4;

/// Compile "any of these filters matches" into inet_diag bytecode, or `None` for no filter.
///
/// Layout: `cmp0 JMP cmp1 JMP ... cmpN`. A comparison that holds falls through to its `JMP`, which jumps
/// to the end (accept); one that fails skips its `JMP` and tries the next comparison; the last one's
/// failure jumps 4 bytes past the end, which the kernel treats as reject. Every op lies on the `yes`
/// path, which is the path the kernel's validator (`inet_diag_bc_audit`) walks.
pub(crate) fn compile(filters: &[PortFilter]) -> Option<Vec<u8>> {
    let compares: Vec<(u8, u16)> = filters
        .iter()
        .flat_map(|f| {
            let local = matches!(f.side, PortSide::Local | PortSide::Either).then_some((BC_S_EQ, f.port));
            let remote = matches!(f.side, PortSide::Remote | PortSide::Either).then_some((BC_D_EQ, f.port));
            local.into_iter().chain(remote)
        })
        .collect();
    if compares.is_empty() {
        return None;
    }
    let total = compares.len() * COMPARE_LEN + (compares.len() - 1) * JMP_LEN;
    let mut code = Vec::with_capacity(total);
    for (i, (op, port)) in compares.iter().enumerate() {
        let last = i + 1 == compares.len();
        // Skip this comparison and its JMP: the next comparison, or for the last one 4 bytes past the end.
        push_op(&mut code, *op, COMPARE_LEN, COMPARE_LEN + JMP_LEN);
        push_op(&mut code, 0, 0, usize::from(*port));
        if !last {
            let remaining = total - code.len();
            push_op(&mut code, BC_JMP, JMP_LEN, remaining);
        }
    }
    debug_assert_eq!(code.len(), total);
    Some(code)
}

/// `struct inet_diag_bc_op { u8 code; u8 yes; u16 no; }`, native-endian like the kernel reads it.
fn push_op(code: &mut Vec<u8>, op: u8, yes: usize, no: usize) {
    code.push(op);
    code.push(yes as u8);
    code.extend_from_slice(&(no as u16).to_ne_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A user-space copy of the kernel's `inet_diag_bc_run` for port comparisons, to check the layout.
    fn run(code: &[u8], sport: u16, dport: u16) -> bool {
        let mut len = code.len() as isize;
        let mut pc = 0usize;
        while len > 0 {
            let (op, yes, no) = (
                code[pc],
                code[pc + 1],
                u16::from_ne_bytes([code[pc + 2], code[pc + 3]]),
            );
            let port = || u16::from_ne_bytes([code[pc + 6], code[pc + 7]]);
            let ok = match op {
                BC_S_EQ => sport == port(),
                BC_D_EQ => dport == port(),
                BC_JMP => false,
                _ => panic!("unexpected op {op}"),
            };
            let step = if ok { usize::from(yes) } else { usize::from(no) };
            len -= step as isize;
            pc += step;
        }
        len == 0
    }

    #[test]
    fn no_filter_is_no_bytecode() {
        assert_eq!(compile(&[]), None);
    }

    #[test]
    fn either_side_of_one_port() {
        let code = compile(&["7000".parse().unwrap()]).unwrap();
        assert_eq!(code.len(), 20);
        assert!(run(&code, 7000, 40000));
        assert!(run(&code, 40000, 7000));
        assert!(!run(&code, 7001, 40000));
    }

    #[test]
    fn several_ports_and_sides() {
        let code = compile(&[
            "local=80".parse().unwrap(),
            "remote=443".parse().unwrap(),
            "9000".parse().unwrap(),
        ])
        .unwrap();
        assert!(run(&code, 80, 1));
        assert!(!run(&code, 1, 80));
        assert!(run(&code, 1, 443));
        assert!(!run(&code, 443, 1));
        assert!(run(&code, 9000, 1));
        assert!(run(&code, 1, 9000));
        assert!(!run(&code, 1, 2));
    }

    #[test]
    fn every_jump_is_aligned_and_in_range() {
        let code = compile(&["1".parse().unwrap(), "2".parse().unwrap()]).unwrap();
        let mut pc = 0;
        while pc < code.len() {
            let (yes, no) = (
                usize::from(code[pc + 1]),
                usize::from(u16::from_ne_bytes([code[pc + 2], code[pc + 3]])),
            );
            let remaining = code.len() - pc;
            assert!(yes % 4 == 0 && yes <= remaining + 4 && no % 4 == 0 && no <= remaining + 4);
            pc += yes;
        }
        assert_eq!(pc, code.len());
    }
}
