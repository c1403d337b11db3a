-- People sign in with their email address: unique across ScaiHub (sign-in
-- does not know the organisation yet), stored in lower case.
ALTER TABLE users ADD COLUMN email TEXT;
CREATE UNIQUE INDEX users_email ON users(email) WHERE email IS NOT NULL;
