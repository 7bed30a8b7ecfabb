//! Issue 8: the Kubernetes Indexed Job of deploy/k8s/, rendered by deploy/render.py for 4 shards and run on
//! this machine the way the kubelet runs it (the container's command and args, `$(VAR)` expanded from the
//! pod's environment, the results volume mounted), then merged by the rendered merge Job: the merge must equal
//! one unsharded run of the same command.
//!
//! Needs python3 with PyYAML (deploy/validate.sh installs it with kubernetes-validate).

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const C1M: &str = env!("CARGO_BIN_EXE_c1m");
/// Where deploy/Containerfile puts the binary; the simulation runs the freshly built one in its place.
const IMAGE_BINARY: &str = "/usr/local/bin/c1m";
/// The annotation the Job controller sets on each pod of an Indexed Job, read by JOB_COMPLETION_INDEX.
const INDEX_ANNOTATION: &str = "metadata.annotations['batch.kubernetes.io/job-completion-index']";
const SERVER_PORT: u16 = 18400;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `deploy/render.py --json ARGS`: the rendered manifests as a list of objects.
fn render(args: &[&str]) -> Vec<Value> {
    let out = Command::new("python3")
        .arg("deploy/render.py")
        .arg("--json")
        .args(args)
        .current_dir(workspace())
        .output()
        .expect("python3 is needed to render deploy/k8s/");
    assert!(
        out.status.success(),
        "deploy/render.py {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Value = serde_json::from_slice(&out.stdout).expect("render.py --json prints JSON");
    list["items"].as_array().expect("a List has items").clone()
}

fn object<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("the rendered manifests have no {kind} {name}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().expect("a string").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// `$(NAME)` expansion as the kubelet applies it to env values, command and args
/// (k8s.io/kubernetes/third_party/forked/golang/expansion): a defined name is replaced by its value, an
/// undefined one stays as written, `$$` is a literal `$`, and anything else after `$` is left alone.
fn expand(input: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('(') {
            match body.find(')') {
                Some(end) => {
                    let name = &body[..end];
                    match vars.get(name) {
                        Some(value) => out.push_str(value),
                        None => out.push_str(&format!("$({name})")),
                    }
                    rest = &body[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = body;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// What the control plane knows about one pod and the kubelet reads through `valueFrom.fieldRef`.
struct PodFacts {
    ip: &'static str,
    completion_index: u32,
}

impl PodFacts {
    fn field(&self, path: &str) -> String {
        match path {
            "status.podIP" => self.ip.to_string(),
            INDEX_ANNOTATION => self.completion_index.to_string(),
            other => panic!("the simulation does not know the pod field {other}"),
        }
    }
}

/// The container's environment in the kubelet's order: each `value` expanded from the variables defined
/// before it, each `fieldRef` read from the pod. Like the Job controller, first append JOB_COMPLETION_INDEX
/// (from the pod's completion-index annotation) to every container of an Indexed Job.
fn container_env(container: &Value, pod: &PodFacts, indexed: bool) -> BTreeMap<String, String> {
    let mut entries = container["env"].as_array().cloned().unwrap_or_default();
    if indexed && !entries.iter().any(|e| e["name"] == "JOB_COMPLETION_INDEX") {
        entries.push(serde_json::json!({
            "name": "JOB_COMPLETION_INDEX",
            "valueFrom": {"fieldRef": {"fieldPath": INDEX_ANNOTATION}}
        }));
    }
    let mut vars = BTreeMap::new();
    for e in &entries {
        let name = e["name"].as_str().expect("env entries have a name").to_string();
        let value = match (
            e["value"].as_str(),
            e["valueFrom"]["fieldRef"]["fieldPath"].as_str(),
        ) {
            (Some(v), _) => expand(v, &vars),
            (None, Some(path)) => pod.field(path),
            (None, None) => panic!("the simulation does not support env {e}"),
        };
        vars.insert(name, value);
    }
    vars
}

/// One container started as the kubelet would: its command and args expanded from its environment, that
/// environment only, and its volume mounts (mountPath -> a directory here) applied to the paths it names.
fn container_command(
    container: &Value,
    pod: &PodFacts,
    indexed: bool,
    mounts: &BTreeMap<String, PathBuf>,
) -> Command {
    let env = container_env(container, pod, indexed);
    let mut argv: Vec<String> = strings(&container["command"]);
    argv.extend(strings(&container["args"]));
    let argv: Vec<String> = argv
        .iter()
        .map(|a| mount(&expand(a, &env), container, mounts))
        .collect();
    assert_eq!(argv[0], IMAGE_BINARY, "the container runs the image's c1m binary");
    let mut cmd = Command::new(C1M);
    cmd.args(&argv[1..]).env_clear().envs(&env);
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path); // the image's own environment
    }
    cmd
}

fn mount(arg: &str, container: &Value, mounts: &BTreeMap<String, PathBuf>) -> String {
    for m in container["volumeMounts"].as_array().into_iter().flatten() {
        let at = m["mountPath"].as_str().expect("a mountPath");
        let volume = m["name"].as_str().expect("a volume name");
        if let Some(rest) = arg
            .strip_prefix(at)
            .filter(|r| r.is_empty() || r.starts_with('/'))
        {
            let dir = mounts
                .get(volume)
                .unwrap_or_else(|| panic!("no directory for volume {volume}"));
            return format!("{}{rest}", dir.display());
        }
    }
    arg.to_string()
}

fn pod_spec(job: &Value) -> &Value {
    &job["spec"]["template"]["spec"]
}

fn option<'a>(args: &'a [String], flag: &str) -> &'a str {
    let i = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("no {flag} in {args:?}"));
    &args[i + 1]
}

#[test]
fn kubelet_expansion_follows_kubernetes_rules() {
    let vars = BTreeMap::from([
        ("A".to_string(), "1".to_string()),
        ("POD_IP".to_string(), "10.0.0.7".to_string()),
    ]);
    for (input, want) in [
        ("$(A)/4", "1/4"),
        ("--sources=$(POD_IP)", "--sources=10.0.0.7"),
        ("$(UNDEFINED)", "$(UNDEFINED)"),
        ("$$(A)", "$(A)"),
        ("$$$(A)", "$1"),
        ("a$b", "a$b"),
        ("trailing$", "trailing$"),
        ("$(A", "$(A"),
        ("$()", "$()"),
        ("é$(A)é", "é1é"),
    ] {
        assert_eq!(expand(input, &vars), want, "expanding {input}");
    }
}

#[test]
fn job_for_four_shards_gives_each_pod_its_slice() {
    let docs = render(&["--shards", "4"]);
    let job = object(&docs, "Job", "c1m-load");
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    assert_eq!(job["spec"]["completions"], 4);
    assert_eq!(
        job["spec"]["parallelism"], 4,
        "all shards must hold their connections at the same time"
    );
    let container = &pod_spec(job)["containers"][0];
    let args = strings(&container["args"]);
    assert_eq!(args[0], "load");
    assert_eq!(option(&args, "--shard"), "$(JOB_COMPLETION_INDEX)/4");
    assert_eq!(
        option(&args, "--json"),
        "/results/shard-$(JOB_COMPLETION_INDEX).json"
    );
    let sysctls = &pod_spec(job)["securityContext"]["sysctls"];
    assert!(
        sysctls
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "net.ipv4.ip_local_port_range"),
        "the load pods widen their port range: {sysctls}"
    );

    let results = BTreeMap::from([("results".to_string(), PathBuf::from("/data"))]);
    for index in 0..4 {
        let pod = PodFacts {
            ip: "10.1.2.3",
            completion_index: index,
        };
        let cmd = container_command(container, &pod, true, &results);
        let argv: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(option(&argv, "--shard"), format!("{index}/4"));
        assert_eq!(option(&argv, "--json"), format!("/data/shard-{index}.json"));
        assert_eq!(option(&argv, "--sources"), "10.1.2.3");
        assert!(
            !argv.iter().any(|a| a.contains("$(")),
            "every variable is defined: {argv:?}"
        );
    }

    let merge = object(&docs, "Job", "c1m-merge");
    let merge_args = strings(&pod_spec(merge)["initContainers"][0]["args"]);
    let files: Vec<&str> = merge_args
        .iter()
        .filter(|a| a.starts_with("/results/shard-"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        files,
        [
            "/results/shard-0.json",
            "/results/shard-1.json",
            "/results/shard-2.json",
            "/results/shard-3.json"
        ]
    );
}

/// Kills the child (the server) when the test ends, however it ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The server pod of the rendered StatefulSet, started like a load pod, once it accepts on `port`.
fn start_server(docs: &[Value], port: u16) -> KillOnDrop {
    let server = object(docs, "StatefulSet", "c1m-server");
    let container = &pod_spec(server)["containers"][0];
    let pod = PodFacts {
        ip: "127.0.0.1",
        completion_index: 0,
    };
    let child = container_command(container, &pod, false, &BTreeMap::new())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start c1m serve");
    let server = KillOnDrop(child);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err() {
        assert!(
            Instant::now() < deadline,
            "c1m serve did not listen on {addr} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

fn finish(name: &str, child: Child) -> Output {
    let out = child.wait_with_output().expect("wait for a c1m process");
    assert!(
        out.status.success(),
        "{name} exited with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

#[test]
fn four_simulated_pods_merge_to_one_unsharded_run() {
    const CONNECTIONS: u64 = 2000;
    let docs = render(&[
        "--shards",
        "4",
        "--connections",
        &CONNECTIONS.to_string(),
        "--rate",
        "2000/s",
        "--hold",
        "2s",
        "--server",
        "127.0.0.1",
        "--ports",
        &SERVER_PORT.to_string(),
    ]);
    let _server = start_server(&docs, SERVER_PORT);
    let volume = tempfile::tempdir().expect("a temporary directory for the results volume");
    let mounts = BTreeMap::from([("results".to_string(), volume.path().to_path_buf())]);
    // Loopback stands in for each pod's IP: the server runs on this machine.
    let pod = |completion_index| PodFacts {
        ip: "127.0.0.1",
        completion_index,
    };

    let job = object(&docs, "Job", "c1m-load");
    let load = &pod_spec(job)["containers"][0];
    let shards: Vec<Child> = (0..4)
        .map(|i| {
            container_command(load, &pod(i), true, &mounts)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start a load shard")
        })
        .collect();
    for (i, shard) in shards.into_iter().enumerate() {
        finish(&format!("shard {i}"), shard);
    }

    let merge = object(&docs, "Job", "c1m-merge");
    let spec = pod_spec(merge);
    let merging = container_command(&spec["initContainers"][0], &pod(0), false, &mounts)
        .stdout(Stdio::piped())
        .spawn();
    let summary = finish(
        "the merge Job's merge container",
        merging.expect("start the merge"),
    );
    assert!(
        !summary.stdout.is_empty(),
        "merge --out prints the merged summary"
    );
    let showing = container_command(&spec["containers"][0], &pod(0), false, &mounts)
        .stdout(Stdio::piped())
        .spawn();
    let shown = finish(
        "the merge Job's report container",
        showing.expect("start report show"),
    );
    let merged: Value =
        serde_json::from_slice(&shown.stdout).expect("report show --json prints the merged report");
    assert_eq!(
        merged,
        read_json(&volume.path().join("merged.json")),
        "report show --json shows merged.json"
    );

    // The same command on one machine without --shard: what the merge must reproduce.
    let whole_path = volume.path().join("whole.json");
    let mut argv: Vec<String> = container_command(load, &pod(0), true, &mounts)
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let at = argv
        .iter()
        .position(|a| a == "--shard")
        .expect("the Job passes --shard");
    argv.drain(at..at + 2);
    let at = argv
        .iter()
        .position(|a| a == "--json")
        .expect("the Job passes --json");
    argv[at + 1] = whole_path.display().to_string();
    let whole = Command::new(C1M)
        .args(&argv)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    finish("the unsharded run", whole.expect("start the unsharded run"));
    let whole = read_json(&whole_path);

    assert_eq!(
        merged["shards"].as_array().map(Vec::len),
        Some(4),
        "every shard is in the merge: {}",
        merged["shards"]
    );
    for field in [
        "planned",
        "attempted",
        "established",
        "failed",
        "skipped",
        "not_started",
        "dropped",
        "open_at_end",
        "peak_open",
    ] {
        assert_eq!(
            merged["counts"][field], whole["counts"][field],
            "counts.{field}: merged 4 shards vs one run"
        );
    }
    assert_eq!(
        merged["counts"]["established"], CONNECTIONS,
        "every connection established: {}",
        merged["counts"]
    );
    for histogram in ["connect_latency", "connect_latency_from_start"] {
        assert_eq!(
            merged[histogram]["count"], CONNECTIONS,
            "{histogram} holds one sample per connection"
        );
        assert_eq!(merged[histogram]["count"], whole[histogram]["count"]);
    }
    assert_eq!(merged["errors"], whole["errors"], "the same errors by cause");
    assert_eq!(merged["plan"]["connections"], whole["plan"]["connections"]);
}

/// A network namespace standing in for one pod's, deleted when the test ends.
struct PodNetns(String);

impl PodNetns {
    fn new(name: String) -> PodNetns {
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("run ip")
            .success();
        assert!(ok, "ip netns add {name} failed (this test needs root)");
        let netns = PodNetns(name);
        netns.run("ip", &["link", "set", "lo", "up"]);
        netns
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.0, program]);
        cmd
    }

    fn run(&self, program: &str, args: &[&str]) {
        let status = self
            .command(program)
            .args(args)
            .status()
            .expect("run ip netns exec");
        assert!(status.success(), "{program} {args:?} in {} failed", self.0);
    }
}

impl Drop for PodNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// In a cluster every shard has its own pod, so its own network namespace and port range: a shard must be
/// able to use all of it. Here one "pod" (a network namespace with the Job's kind of ip_local_port_range, 1,000
/// ports wide) runs shard 0 of 4 of 2,400 connections to one server port: 600 connections, within its 1,000
/// ports.
#[test]
fn a_shard_alone_in_its_pod_uses_the_whole_port_range() {
    let pod = PodNetns::new(format!("c1m-deploy-shard-{}", std::process::id()));
    pod.run("sysctl", &["-qw", "net.ipv4.ip_local_port_range=40000 40999"]);
    let mut server = KillOnDrop(
        pod.command(C1M)
            .args(["serve", "--listen", "127.0.0.1:18601", "--mode", "hold"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start c1m serve in the pod's namespace"),
    );
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.0.stdout.as_mut().expect("piped")),
        &mut ready,
    )
    .expect("read the server's ready line");
    assert!(ready.contains("listening"), "c1m serve did not start: {ready:?}");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let report = dir.path().join("shard-0.json");
    let out = pod
        .command(C1M)
        .args([
            "load",
            "127.0.0.1:18601",
            "-c",
            "2400",
            "--rate",
            "8000/s",
            "--hold",
            "1s",
        ])
        .args(["--shard", "0/4", "--no-progress", "--json"])
        .arg(&report)
        .output()
        .expect("run the shard");
    let report = read_json(&report);
    assert_eq!(
        report["counts"]["established"],
        600,
        "shard 0/4 stopped short in a namespace of its own: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}
