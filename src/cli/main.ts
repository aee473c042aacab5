// Entry point of the inlet command; the bundle dist/inlet.mjs is built from this file.
import { runProcess } from './inlet';

runProcess();
