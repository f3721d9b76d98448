//! The benchmark's inputs and simulators: a million generated users, input files of every size
//! the sections use, and a bare HTTP client that times the simulator on its own.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::measure::{measure, Usage};
use crate::support::{aws_env, bin, simulator_with_directory, Workdir, ACCESS_KEY_ID};
use crate::Simulator;

/// The work directory, the inputs, and a simulator holding all of their users.
pub struct Fixture {
    pub work: Workdir,
    pub inputs: Inputs,
    /// Serves the 1,000,000 users of every input, at zero latency.
    pub big: Simulator,
}

pub struct Inputs {
    pub rows_1: PathBuf,
    pub rows_2k: PathBuf,
    pub rows_10k: PathBuf,
    pub rows_20k: PathBuf,
    pub rows_40k: PathBuf,
    pub rows_100k: PathBuf,
    pub rows_1m: PathBuf,
    /// The first 40,000 users, for the simulators of sections 2, 3 and 6.
    pub directory_40k: PathBuf,
}

impl Fixture {
    pub fn create() -> Fixture {
        let started = Instant::now();
        let work = Workdir::new();
        let big = simulator_with_directory(&work, 100, 10_000, &[]);
        let inputs = Inputs::write(&work, &work.path("directory.csv"));
        println!(
            "fixture: a simulator of 1,000,000 users and the inputs in {:.1} s ({})\n",
            started.elapsed().as_secs_f64(),
            work.root().display()
        );
        Fixture { work, inputs, big }
    }

    /// Runs `run INPUT -o OUTPUT --quiet ARGS` against `sim`, measured; panics unless every
    /// row was reset (exit 0).
    pub fn run(&self, sim: &Simulator, input: &Path, output: &str, args: &[&str]) -> Usage {
        let usage = self.try_run(sim, input, output, args);
        assert_eq!(
            usage.code,
            0,
            "run {} failed; stderr:\n{}",
            input.display(),
            usage.stderr
        );
        usage
    }

    /// Runs `run INPUT -o OUTPUT --quiet ARGS` against `sim`, measured, whatever its exit code
    /// (a run against a throttling server may leave rows failed after their last attempt).
    pub fn try_run(&self, sim: &Simulator, input: &Path, output: &str, args: &[&str]) -> Usage {
        let mut cmd = bin();
        aws_env(&mut cmd);
        cmd.current_dir(self.work.root())
            .arg("run")
            .arg(input)
            .args(["-o", output, "--quiet", "--endpoint-url", sim.endpoint()])
            .args(args);
        let stderr = self.work.path(&format!("{output}.err"));
        let usage = measure(cmd, Some(sim), &stderr);
        // The results may be large: they have served their purpose.
        let _ = std::fs::remove_file(self.work.path(output));
        usage
    }
}

impl Inputs {
    /// Input CSVs (account_id,user_id,display_name) over the first N users of `directory`,
    /// and a directory CSV of the first 40,000.
    pub fn write(work: &Workdir, directory: &Path) -> Inputs {
        let sizes = [1usize, 2_000, 10_000, 20_000, 40_000, 100_000, 1_000_000];
        let paths: Vec<PathBuf> = sizes
            .iter()
            .map(|n| work.path(&format!("input-{n}.csv")))
            .collect();
        let mut writers: Vec<BufWriter<File>> = paths
            .iter()
            .map(|path| {
                let mut out = BufWriter::new(File::create(path).expect("create an input"));
                out.write_all(b"account_id,user_id,display_name\n")
                    .expect("write an input");
                out
            })
            .collect();
        let directory_40k = work.path("directory-40000.csv");
        let mut small = BufWriter::new(File::create(&directory_40k).expect("create a directory"));
        small
            .write_all(b"account_id,user_id,email,display_name\n")
            .expect("write a directory");
        let mut reader = csv::Reader::from_path(directory).expect("the directory was written");
        let mut record = csv::StringRecord::new();
        let mut n = 0;
        while reader.read_record(&mut record).expect("a directory row") {
            let row = format!("{},{},{}\n", &record[0], &record[1], &record[3]);
            for (writer, size) in writers.iter_mut().zip(sizes) {
                if n < size {
                    writer.write_all(row.as_bytes()).expect("write an input");
                }
            }
            if n < 40_000 {
                writeln!(
                    small,
                    "{},{},{},{}",
                    &record[0], &record[1], &record[2], &record[3]
                )
                .expect("write a directory");
            }
            n += 1;
        }
        assert_eq!(n, 1_000_000, "the simulator wrote every user");
        for mut writer in writers {
            writer.flush().expect("write an input");
        }
        small.flush().expect("write a directory");
        let mut paths = paths.into_iter();
        let mut next = || paths.next().expect("one path per size");
        Inputs {
            rows_1: next(),
            rows_2k: next(),
            rows_10k: next(),
            rows_20k: next(),
            rows_40k: next(),
            rows_100k: next(),
            rows_1m: next(),
            directory_40k,
        }
    }
}

/// An input of the first `rows` users of the 40,000-user directory (written once).
pub fn first_rows(fixture: &Fixture, rows: usize) -> PathBuf {
    let path = fixture.work.path(&format!("input-first-{rows}.csv"));
    if !path.exists() {
        let all = std::fs::read_to_string(&fixture.inputs.rows_40k).expect("read an input");
        let header_and_rows: Vec<&str> = all.lines().take(rows + 1).collect();
        assert_eq!(header_and_rows.len(), rows + 1, "at most 40,000 rows");
        std::fs::write(&path, header_and_rows.join("\n") + "\n").expect("write an input");
    }
    path
}

/// The median time the simulator at `endpoint` takes to answer one ResetPersonalPIN, from a
/// bare HTTP/1.1 client on one kept-alive connection (no SDK, no signing work), over the first
/// `n` rows of `input`: what a perfect client would see.
pub fn simulator_service_time(endpoint: &str, input: &Path, n: usize) -> f64 {
    let address = endpoint.trim_start_matches("http://");
    let stream = std::net::TcpStream::connect(address).expect("connect to the simulator");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    let mut writer = stream.try_clone().expect("clone the stream");
    let mut reader = BufReader::new(stream);
    let mut rows = csv::Reader::from_path(input).expect("the input exists");
    let mut times = Vec::with_capacity(n);
    for record in rows.records().take(n) {
        let record = record.expect("an input row");
        // The simulator checks that a SigV4 header is well formed, not its signature, unless
        // it is given --secret-key.
        let request = format!(
            "POST /accounts/{}/users/{}?operation=reset-personal-pin HTTP/1.1\r\nHost: \
             {address}\r\nX-Amz-Date: 20250101T000000Z\r\nAuthorization: AWS4-HMAC-SHA256 \
             Credential={}/20250101/us-east-1/chime/aws4_request, SignedHeaders=host;x-amz-date, \
             Signature=00\r\nContent-Length: 0\r\n\r\n",
            &record[0], &record[1], ACCESS_KEY_ID
        );
        let started = Instant::now();
        writer
            .write_all(request.as_bytes())
            .expect("send a request");
        let mut length = 0;
        let mut line = String::new();
        loop {
            line.clear();
            reader.read_line(&mut line).expect("read an answer");
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().expect("a content length");
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).expect("read the body");
        times.push(started.elapsed().as_secs_f64());
    }
    assert_eq!(times.len(), n, "enough rows to calibrate with");
    times.sort_by(f64::total_cmp);
    times[n / 2]
}
