CREATE TABLE `hash_states` (
	`upload_session_id` text NOT NULL,
	`through_part` integer NOT NULL,
	`state` text NOT NULL,
	PRIMARY KEY(`upload_session_id`, `through_part`),
	FOREIGN KEY (`upload_session_id`) REFERENCES `upload_sessions`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `part_writes` (
	`upload_session_id` text NOT NULL,
	`part_number` integer NOT NULL,
	`lease_expires_at` text NOT NULL,
	`owner` text NOT NULL,
	PRIMARY KEY(`upload_session_id`, `part_number`),
	FOREIGN KEY (`upload_session_id`) REFERENCES `upload_sessions`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
ALTER TABLE `jobs` ADD `projected_version` integer DEFAULT -1 NOT NULL;--> statement-breakpoint
ALTER TABLE `upload_sessions` ADD `sha256` text;