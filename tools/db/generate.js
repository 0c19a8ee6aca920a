// filled by the db work: runs prisma generate for every service schema without network

