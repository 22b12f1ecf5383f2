//! Builds the IPADIC dictionary that `lindera-ipadic` 6.2 embeds, from the
//! mecab-ipadic sources (EUC-JP) with lindera's own builder, so that kessai
//! builds without downloading anything at build time.
//!
//! usage: kessai-ipadic-builder SOURCE OUTPUT_DIR
//!   SOURCE      a mecab-ipadic `.tar.gz`, or a folder holding the unpacked sources
//!   OUTPUT_DIR  the cache folder lindera reads (…/6.2.0-fmt2/lindera-ipadic)

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

use lindera_dictionary::builder::DictionaryBuilder;
use lindera_dictionary::dictionary::metadata::Metadata;

/// The metadata `lindera-ipadic` 6.2.0 ships; the cache is only used when it matches.
const METADATA: &str = include_str!("../metadata.json");

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        return Err("usage: kessai-ipadic-builder SOURCE OUTPUT_DIR".into());
    }
    let source = PathBuf::from(&args[1]);
    let output = PathBuf::from(&args[2]);
    let work = output.with_extension("src-utf8");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work)?;

    if source.is_dir() {
        convert_dir(&source, &work)?;
    } else {
        let unpacked = output.with_extension("src-eucjp");
        let _ = fs::remove_dir_all(&unpacked);
        fs::create_dir_all(&unpacked)?;
        let gz = flate2::read::GzDecoder::new(fs::File::open(&source)?);
        tar::Archive::new(gz).unpack(&unpacked)?;
        let root = find_source_root(&unpacked).ok_or("no matrix.def inside the archive")?;
        convert_dir(&root, &work)?;
        fs::remove_dir_all(&unpacked)?;
    }

    let metadata: Metadata = serde_json::from_str(METADATA)?;
    let _ = fs::remove_dir_all(&output);
    fs::create_dir_all(&output)?;
    DictionaryBuilder::new(metadata).build_dictionary(&work, &output)?;
    fs::remove_dir_all(&work)?;
    println!("built {}", output.display());
    Ok(())
}

/// The folder that holds `matrix.def` (archives wrap the sources in one folder).
fn find_source_root(dir: &Path) -> Option<PathBuf> {
    if dir.join("matrix.def").is_file() {
        return Some(dir.to_path_buf());
    }
    for entry in fs::read_dir(dir).ok()?.flatten() {
        if entry.path().is_dir()
            && let Some(found) = find_source_root(&entry.path())
        {
            return Some(found);
        }
    }
    None
}

/// Copies the dictionary sources, re-encoded from EUC-JP to UTF-8 (lindera 6.2 expects UTF-8).
fn convert_dir(from: &Path, to: &Path) -> Result<(), Box<dyn Error>> {
    let mut n = 0;
    for entry in fs::read_dir(from)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        if !(name.ends_with(".csv") || name.ends_with(".def")) {
            continue;
        }
        let bytes = fs::read(&path)?;
        let text = match std::str::from_utf8(&bytes) {
            Ok(s) => s.to_owned(),
            Err(_) => {
                let (text, _, had_errors) = encoding_rs::EUC_JP.decode(&bytes);
                if had_errors {
                    return Err(format!("{} is neither UTF-8 nor EUC-JP", path.display()).into());
                }
                text.into_owned()
            }
        };
        fs::write(to.join(name), text)?;
        n += 1;
    }
    if n == 0 {
        return Err(format!("no .csv/.def files in {}", from.display()).into());
    }
    Ok(())
}
