DROP FUNCTION renewal_book_filtered(boolean, uuid, text, text, uuid, integer, integer, integer);
DROP VIEW renewal_book;
