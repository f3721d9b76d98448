//! The refusals and the two ways of opening an output, on real files in a temporary folder.

use super::*;

fn file(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write");
    path
}

#[test]
fn a_file_that_appeared_after_it_was_named_is_left_alone() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = file(dir.path(), "results.csv", "another run's rows\n");
    for existing in [Existing::Append, Existing::Overwrite] {
        let opened = open_unheld(&path, existing, "results.csv");
        assert!(
            matches!(opened, Err(OutputError::Appeared(_))),
            "{existing:?}"
        );
    }
    assert!(matches!(
        open_unheld(&path, Existing::Refuse, "results.csv"),
        Err(OutputError::Exists { .. })
    ));
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        "another run's rows\n",
        "neither truncated nor appended to"
    );
}

#[test]
fn an_output_on_an_input_is_refused_by_inode_whatever_its_spelling() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let input = file(dir.path(), "users.csv", "user_id\n");
    let hard_link = dir.path().join("other-name.csv");
    std::fs::hard_link(&input, &hard_link).expect("a hard link");
    let spelled_otherwise = dir.path().join(".").join("users.csv");
    for output in [input.clone(), hard_link, spelled_otherwise] {
        let mut files = Files::default();
        files.reads(&input, "the input");
        let refused = files.rows(
            &Destination::File(output.clone()),
            Existing::Overwrite,
            "the results file",
        );
        assert!(
            matches!(refused, Err(OutputError::SameFile { .. })),
            "{}: {refused:?}",
            output.display()
        );
    }
    assert_eq!(std::fs::read_to_string(&input).expect("read"), "user_id\n");
}

#[test]
fn two_outputs_that_do_not_exist_yet_are_still_one_file() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut files = Files::default();
    let results = dir.path().join("out.csv");
    files
        .rows(
            &Destination::File(results),
            Existing::Refuse,
            "the results file",
        )
        .expect("a new file");
    let summary = dir.path().join(".").join("out.csv");
    let refused = files.whole(
        &Destination::File(summary),
        Existing::Overwrite,
        "the summary",
    );
    assert!(matches!(refused, Err(OutputError::SameFile { .. })));
}

#[test]
fn links_directories_and_missing_folders_are_refused() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let target = file(dir.path(), "target.csv", "kept\n");
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink(&target, &link).expect("a symlink");
    let missing = dir.path().join("nodir").join("out.csv");
    let cases = [
        (link, "Symlink"),
        (dir.path().to_path_buf(), "Directory"),
        (missing, "NoFolder"),
    ];
    for (path, expected) in cases {
        let refused = Files::default().whole(
            &Destination::File(path.clone()),
            Existing::Overwrite,
            "the summary",
        );
        let kind = match refused {
            Err(OutputError::Symlink(_)) => "Symlink",
            Err(OutputError::Directory(_)) => "Directory",
            Err(OutputError::NoFolder { .. }) => "NoFolder",
            _ => "something else",
        };
        assert_eq!(kind, expected, "{}", path.display());
    }
    assert_eq!(std::fs::read_to_string(&target).expect("read"), "kept\n");
}

#[test]
fn a_whole_file_is_in_place_only_once_committed_and_private() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("summary.json");
    let output = Files::default()
        .whole(
            &Destination::File(path.clone()),
            Existing::Refuse,
            "the summary",
        )
        .expect("a new file");
    let mut whole = output.create().expect("a temporary file");
    whole.write_all(b"{}").expect("written");
    assert!(!path.exists(), "nothing in place before the commit");
    whole.commit().expect("committed");
    assert_eq!(std::fs::read(&path).expect("read"), b"{}");
    let mode = std::fs::metadata(&path)
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        matches!(output.write_all(b"[]"), Err(OutputError::Appeared(_))),
        "a file that appeared is not replaced without leave"
    );
}
