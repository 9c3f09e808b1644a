//! Aligned-table printing shared by the `strom group` subcommands (and `strom txn`), laid out as
//! `kafka-consumer-groups.sh` does: left-aligned columns two spaces apart, `-` for an empty cell. Knows nothing
//! of groups.

pub(crate) fn or_dash(s: String) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s
    }
}

/// Left-aligned columns separated by two spaces, header first; no trailing spaces.
pub(crate) fn format_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (cell, w) in cells.zip(&widths) {
            l.push_str(&format!("{cell:<w$}  "));
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let rows = vec![
            vec!["g".to_owned(), "topic-long".to_owned(), "0".to_owned()],
            vec!["g".to_owned(), "t".to_owned(), "10".to_owned()],
        ];
        assert_eq!(
            format_table(&["GROUP", "TOPIC", "PARTITION"], &rows),
            "GROUP  TOPIC       PARTITION\n\
             g      topic-long  0\n\
             g      t           10\n"
        );
    }
}
