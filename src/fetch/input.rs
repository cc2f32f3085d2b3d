//! URL lists: one URL per line, blank lines and `#` comments skipped, read a
//! line at a time so a list of any length costs one line of memory.

use futures::Stream;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// The URLs in `reader`, trimmed. A line that is not UTF-8 is passed on with
/// replacement characters (it then fails as an invalid URL, reported like any
/// other); a read error ends the stream with that error.
pub fn url_lines<R>(reader: R) -> impl Stream<Item = std::io::Result<String>> + Send
where
    R: AsyncRead + Unpin + Send,
{
    let reader = BufReader::new(reader);
    futures::stream::unfold(Some(reader), |reader| async move {
        let mut reader = reader?;
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line).await {
                Ok(0) => return None,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    let text = text.trim();
                    if text.is_empty() || text.starts_with('#') {
                        continue;
                    }
                    return Some((Ok(text.to_string()), Some(reader)));
                }
                Err(err) => return Some((Err(err), None)),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    #[tokio::test]
    async fn skips_blanks_and_comments() {
        let input: &[u8] = b"http://a/\n\n  # a comment\n  http://b/x  \r\nhttp://c/";
        let urls: Vec<String> = url_lines(input).map(|line| line.unwrap()).collect().await;
        assert_eq!(urls, ["http://a/", "http://b/x", "http://c/"]);
    }
}
