//! Argon2id password hashes, verified off the async executor on a fixed set of threads that
//! each reuse one Argon2 memory block, so a burst of logins waits its turn instead of
//! stalling established sessions, and memory stays bounded however many logins come. The
//! queue serves source addresses in turn, so a flood from one address delays that address.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;
use tokio::sync::oneshot;
use twofactor_protocol::Secret;

use crate::config::AuthSection;
use crate::throttle::throttle_key;

#[derive(Debug, Clone, Copy)]
pub struct HashCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl HashCost {
    pub fn from_config(auth: &AuthSection) -> Self {
        HashCost {
            memory_kib: auth.argon2_memory_kib,
            iterations: auth.argon2_iterations,
            parallelism: auth.argon2_parallelism,
        }
    }

    fn argon2(&self) -> Result<Argon2<'static>, argon2::Error> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// A PHC string (`$argon2id$v=19$m=...`), which carries its own salt and cost.
pub fn hash_password(password: &str, cost: HashCost) -> Result<String, String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let argon2 = cost.argon2().map_err(|e| e.to_string())?;
    argon2.hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
}

/// A stored PHC string, parsed: the Argon2 instance with the stored algorithm, version and
/// cost, the salt and the expected output.
struct Stored {
    argon2: Argon2<'static>,
    salt: [u8; 64],
    salt_len: usize,
    expected: [u8; 64],
    expected_len: usize,
}

impl Stored {
    fn parse(phc: &str) -> Option<Stored> {
        let parsed = PasswordHash::new(phc).ok()?;
        let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
        let version = match parsed.version {
            Some(v) => Version::try_from(v).ok()?,
            None => Version::default(),
        };
        // The cost comes from the stored hash, so raising the config does not lock anyone out.
        let params = Params::try_from(&parsed).ok()?;
        let expected_hash = parsed.hash?;
        let mut salt = [0u8; 64];
        let salt_len = parsed.salt?.decode_b64(&mut salt).ok()?.len();
        let mut expected = [0u8; 64];
        let expected_len = expected_hash.len();
        expected.get_mut(..expected_len)?.copy_from_slice(expected_hash.as_bytes());
        Some(Stored { argon2: Argon2::new(algorithm, version, params), salt, salt_len, expected, expected_len })
    }

    /// Argon2 memory blocks this hash needs.
    fn blocks(&self) -> usize {
        self.argon2.params().block_count()
    }

    /// Recomputes the hash in `memory` (at least `blocks()` long), compares in constant
    /// time, and wipes the blocks it used: they would let a memory dump test password
    /// guesses without paying Argon2's memory cost.
    fn matches(&self, password: &[u8], memory: &mut [Block]) -> bool {
        let Some(memory) = memory.get_mut(..self.blocks()) else {
            return false;
        };
        let mut out = [0u8; 64];
        let out = &mut out[..self.expected_len];
        let computed =
            self.argon2.hash_password_into_with_memory(password, &self.salt[..self.salt_len], out, &mut *memory);
        let same: bool = out.ct_eq(&self.expected[..self.expected_len]).into();
        memory.fill(Block::default());
        std::hint::black_box(&mut *memory);
        out.fill(0);
        computed.is_ok() && same
    }
}

/// Verifies `password` against a PHC string with memory of its own, allocated for this one
/// call (the admin CLI, benchmarks). The server verifies on [`PasswordChecker`]'s threads,
/// which reuse theirs.
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Some(stored) = Stored::parse(phc) else {
        return false;
    };
    let mut memory = vec![Block::default(); stored.blocks()];
    stored.matches(password.as_bytes(), &mut memory)
}

struct Job {
    password: Secret<String>,
    phc: String,
    reply: oneshot::Sender<bool>,
}

/// The verifies waiting, one queue per source address, served round-robin: each address
/// with something waiting gets one verify per turn, however many it has queued.
#[derive(Default)]
struct FairQueue {
    by_source: HashMap<IpAddr, VecDeque<Job>>,
    /// Addresses with jobs waiting, in the order they are served next.
    turn: VecDeque<IpAddr>,
    closed: bool,
}

impl FairQueue {
    fn push(&mut self, source: IpAddr, job: Job) {
        let queue = self.by_source.entry(source).or_default();
        if queue.is_empty() {
            self.turn.push_back(source);
        }
        queue.push_back(job);
    }

    fn pop(&mut self) -> Option<Job> {
        let source = self.turn.pop_front()?;
        let queue = self.by_source.get_mut(&source)?;
        let job = queue.pop_front();
        if queue.is_empty() {
            self.by_source.remove(&source);
        } else {
            self.turn.push_back(source);
        }
        job
    }
}

#[derive(Default)]
struct Jobs {
    queue: Mutex<FairQueue>,
    waiting: Condvar,
}

impl Jobs {
    fn lock(&self) -> std::sync::MutexGuard<'_, FairQueue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next job, blocking until there is one; None once closed.
    fn next(&self) -> Option<Job> {
        let mut q = self.lock();
        loop {
            if q.closed {
                return None;
            }
            if let Some(job) = q.pop() {
                return Some(job);
            }
            q = self.waiting.wait(q).unwrap_or_else(|p| p.into_inner());
        }
    }
}

#[derive(Default)]
struct Stats {
    /// Argon2 memory allocations by the verify threads: one per thread, plus one per
    /// verify of a stored hash that costs more memory than the configured cost.
    allocations: AtomicUsize,
    verifies: AtomicUsize,
}

/// One verify thread's Argon2 memory: allocated at its first verify, sized for the
/// configured cost, and reused for every verify after (hashes with a smaller memory cost
/// use a prefix; a larger one gets memory for that verify only).
struct Memory {
    blocks: Vec<Block>,
    size: usize,
    stats: Arc<Stats>,
}

impl Memory {
    fn verify(&mut self, password: &str, phc: &str) -> bool {
        self.stats.verifies.fetch_add(1, Ordering::Relaxed);
        let Some(stored) = Stored::parse(phc) else {
            return false;
        };
        let need = stored.blocks();
        if need > self.size {
            log::debug!("a stored password hash costs more memory than auth.argon2_memory_kib; allocating for it");
            self.stats.allocations.fetch_add(1, Ordering::Relaxed);
            let mut memory = vec![Block::default(); need];
            return stored.matches(password.as_bytes(), &mut memory);
        }
        if self.blocks.len() < self.size {
            self.stats.allocations.fetch_add(1, Ordering::Relaxed);
            self.blocks = vec![Block::default(); self.size];
        }
        stored.matches(password.as_bytes(), &mut self.blocks)
    }
}

/// The nice value of the Argon2 threads: the lowest there is. A verify is ~20 ms of pure
/// CPU, while a logged-in session's request is well under a millisecond; at nice 19 the
/// kernel gives such a thread about 1.5 % of a core against one busy nice-0 thread, and a
/// session thread that wakes preempts it at once. So during a login burst the sessions
/// already logged in (their tokio workers, their SQL threads) run first, and the logins
/// take whatever CPU is left, which on an otherwise idle server is nearly all of it: the
/// burst is not slowed, the probe is not starved. (SCHED_IDLE would be stricter still, but
/// rustix, already a dependency, has no call for it; nice 19 needs no new crate.)
pub const HASH_THREAD_NICE: i32 = 19;

/// Verifies passwords on `workers` dedicated threads, each owning one Argon2 memory block
/// that it reuses, so memory stays at `workers` x the configured cost however many logins
/// come (a fresh 19 MiB allocation per verify left glibc's arenas holding gigabytes).
/// Requests wait in a queue per source address, served in turn (its length is bounded by
/// the connections, and per address by `auth.address_max_pending_logins`); the async side
/// awaits, never blocks.
pub struct PasswordChecker {
    jobs: Arc<Jobs>,
    /// Verified against when the user does not exist, so the reply takes as long.
    dummy_hash: String,
    /// Read by the tests (memory reuse).
    #[cfg_attr(not(test), allow(dead_code))]
    stats: Arc<Stats>,
}

impl PasswordChecker {
    /// Starts the threads; they end when the checker is dropped.
    pub fn new(workers: usize, cost: HashCost) -> Result<Self, String> {
        let workers = workers.max(1);
        let dummy_hash = hash_password("dummy password for unknown users", cost)?;
        let size = cost.argon2().map_err(|e| e.to_string())?.params().block_count();
        let jobs = Arc::new(Jobs::default());
        let stats = Arc::new(Stats::default());
        for i in 0..workers {
            let rx = jobs.clone();
            let mut memory = Memory { blocks: Vec::new(), size, stats: stats.clone() };
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .stack_size(256 * 1024)
                .spawn(move || {
                    crate::resources::lower_this_threads_priority(HASH_THREAD_NICE, "password");
                    while let Some(job) = rx.next() {
                        // Whoever asked has gone (timed out, shut down): nobody would learn
                        // the answer, so the hash is not computed.
                        if job.reply.is_closed() {
                            continue;
                        }
                        let ok = std::panic::catch_unwind(AssertUnwindSafe(|| {
                            memory.verify(job.password.expose(), &job.phc)
                        }))
                        .unwrap_or(false);
                        let _ = job.reply.send(ok);
                    }
                })
                .map_err(|e| format!("cannot start a password thread: {e}"))?;
        }
        Ok(PasswordChecker { jobs, dummy_hash, stats })
    }

    /// True iff `stored` exists and matches. An unknown user costs one hash all the same.
    /// Queued behind the earlier checks of `source`'s address only, and one turn of each
    /// other address's.
    pub async fn verify(&self, password: Secret<String>, stored: Option<String>, source: IpAddr) -> bool {
        let known = stored.is_some();
        let (reply, answer) = oneshot::channel();
        let job = Job { password, phc: stored.unwrap_or_else(|| self.dummy_hash.clone()), reply };
        self.jobs.lock().push(throttle_key(source), job);
        self.jobs.waiting.notify_one();
        answer.await.unwrap_or(false) && known
    }
}

impl Drop for PasswordChecker {
    /// The threads end; checks still queued answer false.
    fn drop(&mut self) {
        let mut q = self.jobs.lock();
        q.closed = true;
        q.by_source.clear();
        q.turn.clear();
        drop(q);
        self.jobs.waiting.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: HashCost = HashCost { memory_kib: 64, iterations: 1, parallelism: 1 };
    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash_password("correct horse", CHEAP).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horse!", &h));
        assert!(!verify_password("correct horse", "not a hash"));
        assert_ne!(h, hash_password("correct horse", CHEAP).unwrap(), "salted");
    }

    #[test]
    fn verification_agrees_with_the_argon2_crate_for_other_algorithms_and_costs() {
        use argon2::password_hash::PasswordVerifier;
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        for (alg, ver, m, t, p, len) in [
            (Algorithm::Argon2id, Version::V0x13, 64, 1, 1, 32),
            (Algorithm::Argon2id, Version::V0x13, 128, 2, 2, 16),
            (Algorithm::Argon2i, Version::V0x13, 64, 3, 1, 64),
            (Algorithm::Argon2d, Version::V0x10, 96, 1, 3, 32),
        ] {
            let params = Params::new(m, t, p, Some(len)).unwrap();
            let h = Argon2::new(alg, ver, params).hash_password(b"pw", &salt).unwrap().to_string();
            let parsed = PasswordHash::new(&h).unwrap();
            assert!(Argon2::default().verify_password(b"pw", &parsed).is_ok());
            assert!(verify_password("pw", &h), "{h}");
            assert!(!verify_password("pW", &h), "{h}");
        }
        // Truncated or tampered strings are refused, not panicked on.
        let h = hash_password("pw", CHEAP).unwrap();
        assert!(!verify_password("pw", &h[..h.len() - 4]));
        assert!(!verify_password("pw", h.rsplit_once('$').unwrap().0));
    }

    #[tokio::test]
    async fn each_thread_reuses_one_memory_block() {
        let checker = PasswordChecker::new(1, CHEAP).unwrap();
        let h = hash_password("pw", CHEAP).unwrap();
        for _ in 0..5 {
            assert!(checker.verify(Secret::new("pw".into()), Some(h.clone()), LOCAL).await);
            assert!(!checker.verify(Secret::new("no".into()), Some(h.clone()), LOCAL).await);
        }
        assert!(!checker.verify(Secret::new("pw".into()), None, LOCAL).await);
        assert_eq!(checker.stats.verifies.load(Ordering::Relaxed), 11);
        assert_eq!(checker.stats.allocations.load(Ordering::Relaxed), 1);
        // A hash that costs less memory than the configured cost uses part of the block.
        let small = hash_password("pw", HashCost { memory_kib: 32, ..CHEAP }).unwrap();
        assert!(checker.verify(Secret::new("pw".into()), Some(small), LOCAL).await);
        assert_eq!(checker.stats.allocations.load(Ordering::Relaxed), 1);
        // One that costs more gets memory for that verify only.
        let big = hash_password("pw", HashCost { memory_kib: 256, ..CHEAP }).unwrap();
        assert!(checker.verify(Secret::new("pw".into()), Some(big.clone()), LOCAL).await);
        assert!(!checker.verify(Secret::new("pv".into()), Some(big), LOCAL).await);
        assert_eq!(checker.stats.allocations.load(Ordering::Relaxed), 3);
        assert!(checker.verify(Secret::new("pw".into()), Some(h), LOCAL).await);
        assert_eq!(checker.stats.allocations.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn a_burst_is_served_by_every_thread_and_answered_in_full() {
        let checker = Arc::new(PasswordChecker::new(3, CHEAP).unwrap());
        let h = hash_password("pw", CHEAP).unwrap();
        let mut tasks = Vec::new();
        for i in 0..100 {
            let (c, h) = (checker.clone(), h.clone());
            tasks.push(tokio::spawn(async move {
                let pw = if i % 2 == 0 { "pw" } else { "wrong" };
                c.verify(Secret::new(pw.into()), Some(h), LOCAL).await == (i % 2 == 0)
            }));
        }
        for t in tasks {
            assert!(t.await.unwrap());
        }
        assert_eq!(checker.stats.verifies.load(Ordering::Relaxed), 100);
        assert!(checker.stats.allocations.load(Ordering::Relaxed) <= 3);
    }

    /// Not a CI check (RSS depends on the allocator and the machine): prints the process's
    /// RSS around 50 verifies at the default cost.
    /// `cargo test -p twofactor-server --release -- --ignored --nocapture rss_around`
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore]
    async fn rss_around_fifty_verifies_at_the_default_cost() {
        fn rss_kib() -> u64 {
            let s = std::fs::read_to_string("/proc/self/status").unwrap();
            let l = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
            l.split_whitespace().nth(1).unwrap().parse().unwrap()
        }
        let cost = HashCost::from_config(&AuthSection::default());
        let checker = Arc::new(PasswordChecker::new(2, cost).unwrap());
        let h = hash_password("pw", cost).unwrap();
        let before = rss_kib();
        let t = std::time::Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (c, h) = (checker.clone(), h.clone());
            tasks.push(tokio::spawn(async move {
                // Small allocations on the blocking pool meanwhile, as the store calls make.
                let junk = tokio::task::spawn_blocking(|| vec![vec![0u8; 200]; 500]);
                let ok = c.verify(Secret::new("pw".into()), Some(h), LOCAL).await;
                drop(junk.await);
                ok
            }));
        }
        for t in tasks {
            assert!(t.await.unwrap());
        }
        println!(
            "50 verifies on 2 threads: VmRSS {before} -> {} KiB, {:?}, {} allocations",
            rss_kib(),
            t.elapsed(),
            checker.stats.allocations.load(Ordering::Relaxed)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_from_one_address_does_not_delay_another_address_behind_it() {
        let cost = HashCost { memory_kib: 2048, iterations: 2, parallelism: 1 };
        let checker = Arc::new(PasswordChecker::new(1, cost).unwrap());
        let h = hash_password("pw", cost).unwrap();
        let flood: IpAddr = "10.9.9.9".parse().unwrap();
        let done = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..40 {
            let (c, h, done) = (checker.clone(), h.clone(), done.clone());
            tasks.push(tokio::spawn(async move {
                c.verify(Secret::new("wrong".into()), Some(h), flood).await;
                done.fetch_add(1, Ordering::SeqCst);
            }));
        }
        // Until the flood is queued.
        while checker.jobs.lock().by_source.get(&flood).map_or(0, |q| q.len()) < 30 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        // Counted from when ours is queued: on a loaded machine the worker may have served
        // a few of the flood already while the rest was still being queued.
        let at_queue = done.load(Ordering::SeqCst);
        assert!(checker.verify(Secret::new("pw".into()), Some(h), LOCAL).await);
        let before = done.load(Ordering::SeqCst) - at_queue;
        // One turn each: at most the one running and the one served before ours.
        assert!(before <= 3, "{before} of the flood's verifies went first");
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(done.load(Ordering::SeqCst), 40);
    }

    /// The nice value of each of this process's threads named `name`, from /proc (not from
    /// the call that set it).
    #[cfg(target_os = "linux")]
    fn nice_of_threads_named(name: &str) -> Vec<i32> {
        let mut nices = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap() {
            let dir = task.unwrap().path();
            let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            if comm.trim_end() != name {
                continue;
            }
            // A thread that ended between the listing and here has no stat left.
            let Ok(stat) = std::fs::read_to_string(dir.join("stat")) else { continue };
            // After the ")" that ends the command: state is field 3, nice field 19.
            let after = &stat[stat.rfind(')').unwrap() + 2..];
            nices.push(after.split(' ').nth(16).unwrap().parse().unwrap());
        }
        nices
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_argon2_threads_run_at_the_lowest_priority() {
        let own = rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
        let checker = PasswordChecker::new(2, CHEAP).unwrap();
        let h = hash_password("pw", CHEAP).unwrap();
        // Each thread lowers itself when it starts; a verify on each proves both have.
        let (a, b) = tokio::join!(
            checker.verify(Secret::new("pw".into()), Some(h.clone()), LOCAL),
            checker.verify(Secret::new("pw".into()), Some(h.clone()), LOCAL)
        );
        assert!(a && b);
        // Names are per thread, and other tests' checkers may be alive: every argon2
        // thread of this process must be at nice 19, and ours are among them.
        let mut nices = Vec::new();
        for _ in 0..100 {
            nices = [nice_of_threads_named("argon2-0"), nice_of_threads_named("argon2-1")].concat();
            if nices.len() >= 2 && nices.iter().all(|&n| n == HASH_THREAD_NICE) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(nices.len() >= 2, "argon2 threads found: {nices:?}");
        assert!(nices.iter().all(|&n| n == HASH_THREAD_NICE), "{nices:?}");
        // The thread that made the checker (a session's, in the server) keeps its priority.
        assert_eq!(rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap(), own);
    }

    #[tokio::test]
    async fn an_unknown_user_is_refused_after_a_hash() {
        let checker = PasswordChecker::new(1, CHEAP).unwrap();
        let h = hash_password("pw", CHEAP).unwrap();
        assert!(checker.verify(Secret::new("pw".into()), Some(h.clone()), LOCAL).await);
        assert!(!checker.verify(Secret::new("nope".into()), Some(h), LOCAL).await);
        assert!(!checker.verify(Secret::new("dummy password for unknown users".into()), None, LOCAL).await);
    }
}
