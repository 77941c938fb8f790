DROP VIEW renewal_book;
