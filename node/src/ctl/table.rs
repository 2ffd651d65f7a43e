//! Aligned plain-text tables for `tern ctl`: columns padded to their widest cell, two
//! spaces apart, no trailing blanks, so the output reads in a terminal and still splits
//! with `awk`.

use std::fmt::Write as _;

pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let header = (!self.header.is_empty()).then_some(&self.header);
        let columns = self
            .rows
            .iter()
            .chain(header)
            .map(Vec::len)
            .max()
            .unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in self.rows.iter().chain(header) {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        for row in header.into_iter().chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Two columns, no header: `name  value` lines for one object.
pub fn pairs(pairs: &[(&str, String)]) -> String {
    let mut table = Table::new(&[]);
    for (name, value) in pairs {
        table.row(vec![(*name).to_owned(), value.clone()]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_on_the_widest_cell() {
        let mut table = Table::new(&["ID", "BALANCE"]);
        table.row(vec!["acme".into(), "1000".into()]);
        table.row(vec!["a".into(), "".into()]);
        assert_eq!(table.render(), "ID    BALANCE\nacme  1000\na\n");
    }

    #[test]
    fn pairs_have_no_header() {
        assert_eq!(
            pairs(&[("id", "acme".into()), ("enabled", "yes".into())]),
            "id       acme\nenabled  yes\n"
        );
    }
}
