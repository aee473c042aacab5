CREATE TABLE `bundle_files` (
	`id` text PRIMARY KEY NOT NULL,
	`bundle_id` text NOT NULL,
	`job_id` text NOT NULL,
	`position` integer NOT NULL,
	`filename` text NOT NULL,
	`extension` text NOT NULL,
	`size_bytes` integer NOT NULL,
	`role` text NOT NULL,
	`format` text NOT NULL,
	`mime_type` text,
	`last_modified` integer,
	`sha256` text,
	`sample_sha256` text,
	`relative_path` text,
	FOREIGN KEY (`bundle_id`) REFERENCES `bundles`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `bundle_files_bundle_idx` ON `bundle_files` (`bundle_id`);--> statement-breakpoint
CREATE TABLE `bundles` (
	`id` text PRIMARY KEY NOT NULL,
	`job_id` text NOT NULL,
	`created_at` text NOT NULL,
	FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `bundles_job_idx` ON `bundles` (`job_id`);--> statement-breakpoint
CREATE TABLE `datasets` (
	`job_id` text NOT NULL,
	`dataset_key` text NOT NULL,
	`role` text NOT NULL,
	`rel_path` text NOT NULL,
	`original_name` text NOT NULL,
	`size_bytes` integer NOT NULL,
	`sha256` text NOT NULL,
	`format` text NOT NULL,
	`content_type` text NOT NULL,
	`uploaded_at` text NOT NULL,
	`read_options` text DEFAULT '{}' NOT NULL,
	`file_id` text NOT NULL,
	`upload_session_id` text NOT NULL,
	PRIMARY KEY(`job_id`, `dataset_key`),
	FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `datasets_one_primary_idx` ON `datasets` (`job_id`) WHERE role = 'primary_dataset';--> statement-breakpoint
CREATE TABLE `jobs` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`title` text,
	`status` text DEFAULT 'open' NOT NULL,
	`fingerprint` text NOT NULL,
	`manifest_version` integer DEFAULT 0 NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `jobs_tenant_idx` ON `jobs` (`tenant_id`);--> statement-breakpoint
CREATE TABLE `tenants` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`created_at` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`tenant_id` text NOT NULL,
	`job_id` text,
	`secret_sha256` text NOT NULL,
	`created_at` text NOT NULL,
	`expires_at` text,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tokens_secret_idx` ON `tokens` (`secret_sha256`);--> statement-breakpoint
CREATE TABLE `upload_parts` (
	`upload_session_id` text NOT NULL,
	`part_number` integer NOT NULL,
	`size_bytes` integer NOT NULL,
	`sha256` text NOT NULL,
	`etag` text NOT NULL,
	`stored_at` text NOT NULL,
	PRIMARY KEY(`upload_session_id`, `part_number`),
	FOREIGN KEY (`upload_session_id`) REFERENCES `upload_sessions`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `upload_sessions` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`job_id` text NOT NULL,
	`file_id` text NOT NULL,
	`strategy` text NOT NULL,
	`status` text NOT NULL,
	`size_bytes` integer NOT NULL,
	`part_size_bytes` integer NOT NULL,
	`part_count` integer NOT NULL,
	`created_at` text NOT NULL,
	`expires_at` text NOT NULL,
	`lease_expires_at` text,
	`receipt` text,
	`failure_code` text,
	`updated_at` text NOT NULL,
	FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`file_id`) REFERENCES `bundle_files`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `upload_sessions_job_idx` ON `upload_sessions` (`job_id`,`status`);--> statement-breakpoint
CREATE INDEX `upload_sessions_file_idx` ON `upload_sessions` (`file_id`);