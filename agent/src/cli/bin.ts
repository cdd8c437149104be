#!/usr/bin/env node
import { cli } from './main.js';

cli();
