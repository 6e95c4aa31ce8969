-- An image of the product, stored by the files service (its id only: no service reads another's tables).
alter table products add column image_file_id text;
